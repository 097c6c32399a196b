"""Liquidity: liquidity_runs and liquidity_selections.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "liquidity_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("market_source", sa.String(length=32), nullable=False),
        sa.Column("data_taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("blend_mode", sa.String(length=16), nullable=False),
        sa.Column("universe_size", sa.Integer(), nullable=False),
        sa.Column("eligible_count", sa.Integer(), nullable=False),
        sa.Column("selected_count", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("analytics", sa.JSON(), nullable=False),
        sa.Column("exclusions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liquidity_runs")),
    )
    op.create_index(op.f("ix_liquidity_runs_created_at"), "liquidity_runs", ["created_at"])
    op.create_table(
        "liquidity_selections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("base_asset", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.String(length=64), nullable=False),
        sa.Column("liquidity_score", sa.Float(), nullable=False),
        sa.Column("liquidity_component", sa.Float(), nullable=False),
        sa.Column("model_score", sa.Float(), nullable=True),
        sa.Column("blended_score", sa.Float(), nullable=False),
        sa.Column("model_action", sa.String(length=8), nullable=True),
        sa.Column("model_confidence", sa.Float(), nullable=True),
        sa.Column("strong_sell", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["liquidity_runs.id"],
            name=op.f("fk_liquidity_selections_run_id_liquidity_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liquidity_selections")),
        sa.UniqueConstraint("run_id", "symbol", name=op.f("uq_liquidity_selections_run_id_symbol")),
    )
    op.create_index(op.f("ix_liquidity_selections_run_id"), "liquidity_selections", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_liquidity_selections_run_id"), table_name="liquidity_selections")
    op.drop_table("liquidity_selections")
    op.drop_index(op.f("ix_liquidity_runs_created_at"), table_name="liquidity_runs")
    op.drop_table("liquidity_runs")
