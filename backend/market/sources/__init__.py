"""Market data sources: simulated, binance and replay."""
