"""Benchmarks: every module here exposes `run() -> list[dict]`; `make bench` runs them all."""
