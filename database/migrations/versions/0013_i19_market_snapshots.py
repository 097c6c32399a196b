"""The market each live execution cycle traded on (market_snapshots), for the backtest's drift report.

Revision ID: 0013_i19_market_snapshots
Revises: 0012_i14_retrain_cycles
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_i19_market_snapshots"
down_revision: str | None = "0012_i14_retrain_cycles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_snapshots")),
    )
    op.create_index(op.f("ix_market_snapshots_run_id"), "market_snapshots", ["run_id"])
    op.create_index(op.f("ix_market_snapshots_taken_at"), "market_snapshots", ["taken_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_market_snapshots_taken_at"), table_name="market_snapshots")
    op.drop_index(op.f("ix_market_snapshots_run_id"), table_name="market_snapshots")
    op.drop_table("market_snapshots")
