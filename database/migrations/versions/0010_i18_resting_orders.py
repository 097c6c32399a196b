"""Paper exchange resting orders: limit price, time in force, last change, bars matched up to.

Revision ID: 0010_i18_resting_orders
Revises: 0009_i17_notify
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_i18_resting_orders"
down_revision: str | None = "0009_i17_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("paper_orders") as batch:
        batch.add_column(sa.Column("price", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("time_in_force", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("matched_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paper_orders") as batch:
        batch.drop_column("matched_until")
        batch.drop_column("updated_at")
        batch.drop_column("time_in_force")
        batch.drop_column("price")
