"""Operator and developer scripts, each runnable as `python backend/scripts/<name>.py`."""
