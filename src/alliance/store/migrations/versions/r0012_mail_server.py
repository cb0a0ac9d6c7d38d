"""The clinic's mail server set by the admin on /admin/mail, its password sealed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_server",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=10), nullable=False),
        sa.Column("username", sa.String(length=254), nullable=True),
        sa.Column("sealed_password", sa.Text(), nullable=True),
        sa.Column("mail_from", sa.String(length=254), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "security IN ('starttls', 'implicit')", name=op.f("ck_mail_server_security")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_mail_server_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_server")),
    )


def downgrade() -> None:
    op.drop_table("mail_server")
