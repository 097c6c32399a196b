"""Champion and challenger: retraining cycles and the shadow predictions of a challenger on live bars.

Revision ID: 0012_i14_retrain_cycles
Revises: 0011_i18_child_orders
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_i14_retrain_cycles"
down_revision: str | None = "0011_i18_child_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_retrain_cycles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.String(length=64), nullable=True),
        sa.Column("champion_version", sa.String(length=64), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("shadow_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shadow_bars", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["model_training_runs.id"],
            name=op.f("fk_model_retrain_cycles_run_id_model_training_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_retrain_cycles")),
    )
    op.create_index(op.f("ix_model_retrain_cycles_status"), "model_retrain_cycles", ["status"])
    op.create_index(op.f("ix_model_retrain_cycles_started_at"), "model_retrain_cycles", ["started_at"])
    op.create_index(op.f("ix_model_retrain_cycles_run_id"), "model_retrain_cycles", ["run_id"])
    op.create_table(
        "model_shadow_predictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("open_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("champion_version", sa.String(length=64), nullable=True),
        sa.Column("champion_proba", sa.JSON(), nullable=True),
        sa.Column("challenger_proba", sa.JSON(), nullable=False),
        sa.Column("forward_return", sa.Float(), nullable=True),
        sa.Column("label", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["model_retrain_cycles.id"],
            name=op.f("fk_model_shadow_predictions_cycle_id_model_retrain_cycles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_shadow_predictions")),
        sa.UniqueConstraint("cycle_id", "symbol", "open_time", name=op.f("uq_model_shadow_predictions_bar")),
    )
    op.create_index(op.f("ix_model_shadow_predictions_cycle_id"), "model_shadow_predictions", ["cycle_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_model_shadow_predictions_cycle_id"), table_name="model_shadow_predictions")
    op.drop_table("model_shadow_predictions")
    op.drop_index(op.f("ix_model_retrain_cycles_run_id"), table_name="model_retrain_cycles")
    op.drop_index(op.f("ix_model_retrain_cycles_started_at"), table_name="model_retrain_cycles")
    op.drop_index(op.f("ix_model_retrain_cycles_status"), table_name="model_retrain_cycles")
    op.drop_table("model_retrain_cycles")
