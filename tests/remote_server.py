"""A real KServe v2 model server for the remote-model tests: NVIDIA Triton (from the nvidia-pytriton wheel) serving
Open Model Zoo IRs, each behind a Python callable that runs it with OpenVINO on this machine's CPU.

Runs in its own virtual environment (pytriton pins numpy<2; see tests/pipeline/test_remote.py), not in ovdemo's:

    python remote_server.py --grpc-port P --http-port Q MODEL_JSON...

Each MODEL_JSON is {"name": served name, "xml": IR path, "version": 1, "max_batch": 0, "sleep": 0, "instances": 1}:
max_batch > 0 serves the model with Triton batching (the IR reshaped to a dynamic batch), 0 with its own full
shapes, as OpenVINO Model Server does by default; sleep (seconds) makes every request that slow (for client
timeouts); instances > 1 runs that many requests at once (the bench's server); declare ({input: shape}) states
other input shapes than the model takes (a server that describes its model wrongly, for the shape-error test).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import openvino as ov
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig


def dims(port, batching: bool) -> tuple[int, ...]:
    shape = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
    return tuple(shape[1:] if batching else shape)


def serve_model(triton: Triton, core: ov.Core, entry: dict) -> None:
    model = core.read_model(entry["xml"])
    batching = entry.get("max_batch", 0) > 0
    if batching:
        model.reshape({p: ov.PartialShape([-1, *list(p.get_partial_shape())[1:]]) for p in model.inputs})
    instances = int(entry.get("instances", 1))
    # f32 on the server as in the tests' local runs (--infer-precision f32), so both give the same numbers; one
    # instance runs a request on every core, several share the cores as OpenVINO's streams do
    hint = "LATENCY" if instances == 1 else "THROUGHPUT"
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": hint})
    inputs = [(p.get_any_name(), p.get_element_type().to_dtype()) for p in compiled.inputs]
    outputs = [(p.get_any_name(), p) for p in compiled.outputs]
    sleep = float(entry.get("sleep", 0))

    def instance():
        request = compiled.create_infer_request()

        def infer(requests):  # pytriton hands over a list of requests, each {input name: array}
            answers = []
            for req in requests:
                if sleep:
                    time.sleep(sleep)
                result = request.infer({name: np.asarray(req[name], dtype) for name, dtype in inputs})
                answers.append({name: np.asarray(result[port]) for name, port in outputs})
            return answers
        return infer

    triton.bind(
        model_name=entry["name"],
        model_version=entry.get("version", 1),
        infer_func=[instance() for _ in range(instances)],
        inputs=[Tensor(name=p.get_any_name(), dtype=p.get_element_type().to_dtype(),
                       shape=tuple(entry.get("declare", {}).get(p.get_any_name(), dims(p, batching))))
                for p in model.inputs],
        outputs=[Tensor(name=p.get_any_name(), dtype=p.get_element_type().to_dtype(), shape=dims(p, batching))
                 for p in model.outputs],
        config=ModelConfig(batching=batching, max_batch_size=entry.get("max_batch", 0) or 1),
        strict=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("models", nargs="+", type=json.loads)
    args = parser.parse_args()
    config = TritonConfig(http_address="127.0.0.1", http_port=args.http_port, grpc_address="127.0.0.1",
                          grpc_port=args.grpc_port, allow_metrics=False, log_verbose=0)
    # the statistics endpoint open (pytriton restricts it by default): the client's summary reads the server's time
    security = TritonSecurityConfig(restricted_endpoints=["shared-memory", "model-repository", "trace", "logging"])
    core = ov.Core()
    with Triton(config=config, security_config=security) as triton:
        for entry in args.models:
            serve_model(triton, core, entry)
        triton.serve()


if __name__ == "__main__":
    main()
