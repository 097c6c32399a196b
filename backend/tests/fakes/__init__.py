"""Small real stand-ins for external services (a local Binance REST server)."""
