"""The engine: the pipeline's loop, the runner, inference requests, stages, worker processes."""
