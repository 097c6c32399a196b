"""Quantum Trader: the FastAPI service, its scheduler and its trading domains."""

__version__ = "0.1.0"
