"""Benchmarks live here; run them as scripts, never collect them as tests."""

collect_ignore_glob = ["*.py"]
