"""Training and inference of the BUY/HOLD/SELL model; never imports backend.api or FastAPI."""
