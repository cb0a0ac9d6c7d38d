"""The sign-in throttle's window in the database, shared by every worker process.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(op.f("ix_sign_in_attempts_key"), "sign_in_attempts", ["key"])
    op.create_index(op.f("ix_sign_in_attempts_at"), "sign_in_attempts", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_attempts_at"), table_name="sign_in_attempts")
    op.drop_index(op.f("ix_sign_in_attempts_key"), table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
