"""Portfolio marks: the portfolio valued at each cycle and hourly (GET /portfolio/history).

Revision ID: 0005_i16_portfolio_marks
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_i16_portfolio_marks"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portfolio_marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("equity", sa.String(length=64), nullable=False),
        sa.Column("cash", sa.String(length=64), nullable=False),
        sa.Column("gross_exposure", sa.String(length=64), nullable=False),
        sa.Column("realised_pnl", sa.String(length=64), nullable=False),
        sa.Column("unrealised_pnl", sa.String(length=64), nullable=False),
        sa.Column("fees_paid", sa.String(length=64), nullable=False),
        sa.Column("contributed", sa.String(length=64), nullable=False),
        sa.Column("high_water", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_marks")),
    )
    op.create_index("ix_portfolio_marks_exchange_time", "portfolio_marks", ["exchange", "time"])


def downgrade() -> None:
    op.drop_index("ix_portfolio_marks_exchange_time", table_name="portfolio_marks")
    op.drop_table("portfolio_marks")
