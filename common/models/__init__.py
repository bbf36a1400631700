"""Models: the catalog, resolving and fetching, conversion, specs, remote models, shared decoders."""
