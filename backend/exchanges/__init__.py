"""Exchange adapters behind one protocol: paper (default) and Binance spot."""
