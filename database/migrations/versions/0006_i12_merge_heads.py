"""Join the two migrations that landed side by side (0005_i12_money_paths, 0005_i16_portfolio_marks).

Revision ID: 0006_i12_merge_heads
Revises: 0005_i12_money_paths, 0005_i16_portfolio_marks
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_i12_merge_heads"
down_revision: str | Sequence[str] | None = ("0005_i12_money_paths", "0005_i16_portfolio_marks")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
