"""Closing reason: why an episode ended (planned, dropout, referred, other).

Episodes closed before this revision keep a NULL reason: the store cannot know it after the fact.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("closing_reason", sa.String(length=20), nullable=True))
        batch.create_check_constraint(
            op.f("ck_episodes_closing_reason"),
            "closing_reason IN ('planned', 'dropout', 'referred', 'other')",
        )


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.drop_constraint(op.f("ck_episodes_closing_reason"), type_="check")
        batch.drop_column("closing_reason")
