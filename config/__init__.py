"""Typed configuration of Quantum Trader; imports nothing else of the project."""
