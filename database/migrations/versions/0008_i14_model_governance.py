"""Model governance: at most one active model (a partial unique index), and a heartbeat per run.

Revision ID: 0008_i14_model_governance
Revises: 0007_i19_merge_heads
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_i14_model_governance"
down_revision: str | None = "0007_i19_merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_model_training_runs_one_active"


def upgrade() -> None:
    with op.batch_alter_table("model_training_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    # Before the index can exist, keep only the most recently activated of several active rows.
    runs = sa.table(
        "model_training_runs",
        sa.column("id", sa.Integer),
        sa.column("is_active", sa.Boolean),
        sa.column("activated_at", sa.DateTime(timezone=True)),
    )
    newest = (
        sa.select(runs.c.id)
        .where(runs.c.is_active == sa.true())
        .order_by(runs.c.activated_at.desc(), runs.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    op.execute(sa.update(runs).where(runs.c.is_active == sa.true(), runs.c.id != newest).values(is_active=sa.false()))
    op.create_index(
        INDEX,
        "model_training_runs",
        ["is_active"],
        unique=True,
        sqlite_where=sa.text("is_active = 1"),
        postgresql_where=sa.text("is_active"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="model_training_runs")
    with op.batch_alter_table("model_training_runs") as batch:
        batch.drop_column("heartbeat_at")
