"""Tamper evidence for clinical rows: each audited write keeps a hash of the row it wrote.

Events written before this revision keep a NULL row hash (their chain hashes are unchanged);
rows last written before it are not checked against their content.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("row_hash")
