"""Money paths (issue 12): order fencing and unknown-outcome bookkeeping, the installation's id prefix.

orders.leader_epoch      the leader epoch that planned the order (fencing: only that leader sends it)
orders.unknown_since     when the outcome became unknown (claimed for sending, or a timeout)
orders.next_lookup_at    when the next lookup of an unknown order is due (backoff)
orders.lookups           lookups made so far
orders.quote_order_qty   the quote amount a buy was sent with (Binance quoteOrderQty)
installation             one row: this deployment's client order id prefix

Revision ID: 0005_i12_money_paths
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_i12_money_paths"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("leader_epoch", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("unknown_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_lookup_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lookups", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("quote_order_qty", sa.String(length=64), nullable=True))
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("client_id_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )


def downgrade() -> None:
    op.drop_table("installation")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("quote_order_qty")
        batch.drop_column("lookups")
        batch.drop_column("next_lookup_at")
        batch.drop_column("unknown_since")
        batch.drop_column("leader_epoch")
