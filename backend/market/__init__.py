"""Market data: the vocabulary (types), the source protocol, sources, caches and sentiment."""
