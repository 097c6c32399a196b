"""Join the two migrations that landed side by side (0006_i12_merge_heads, 0006_i19_backtests).

Revision ID: 0007_i19_merge_heads
Revises: 0006_i12_merge_heads, 0006_i19_backtests
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_i19_merge_heads"
down_revision: str | Sequence[str] | None = ("0006_i12_merge_heads", "0006_i19_backtests")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
