"""Benchmarks of the data path, open latency, the API and catalog scale (``make bench``)."""
