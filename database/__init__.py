"""Persistence: engine factory, declarative base, tables and Alembic migrations."""
