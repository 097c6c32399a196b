"""Scheduled jobs: thin functions that call one service each."""
