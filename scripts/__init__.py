"""Developer scripts: benchmarks and repair helpers."""
