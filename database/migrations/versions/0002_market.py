"""Market data: the klines table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "klines",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("open_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("close_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.String(length=64), nullable=False),
        sa.Column("high", sa.String(length=64), nullable=False),
        sa.Column("low", sa.String(length=64), nullable=False),
        sa.Column("close", sa.String(length=64), nullable=False),
        sa.Column("volume", sa.String(length=64), nullable=False),
        sa.Column("quote_volume", sa.String(length=64), nullable=False),
        sa.Column("trade_count", sa.Integer(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "symbol", "interval", "open_time", name=op.f("pk_klines")),
    )
    op.create_index("ix_klines_symbol_interval_open_time", "klines", ["symbol", "interval", "open_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_klines_symbol_interval_open_time", table_name="klines")
    op.drop_table("klines")
