"""Child orders in the ledger: the planned order a child works (parent_client_order_id), for
maker-first orders re-priced or finished across cycles and for sliced orders.

Revision ID: 0011_i18_child_orders
Revises: 0010_i18_resting_orders
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_i18_child_orders"
down_revision: str | None = "0010_i18_resting_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("parent_client_order_id", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_orders_parent_client_order_id"), ["parent_client_order_id"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_index(batch.f("ix_orders_parent_client_order_id"))
        batch.drop_column("parent_client_order_id")
