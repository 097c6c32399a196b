"""Metrics, logging and the admin audit log."""
