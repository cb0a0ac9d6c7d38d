"""Transcripts uploaded to a session page: held while coded, then codes only unless kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STATUSES = ("mapping", "queued", "coding", "done", "failed")


def upgrade() -> None:
    listed = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_table(
        "session_transcripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("keep_text", sa.Boolean(), nullable=False),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("speakers", sa.JSON(), nullable=True),
        sa.Column("coded", sa.JSON(), nullable=True),
        sa.Column("codes", sa.JSON(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("shared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("text_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ({listed})", name=op.f("ck_session_transcripts_status")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_transcripts_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["users.id"], name=op.f("fk_session_transcripts_therapist_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["transcript_profiles.id"],
            name=op.f("fk_session_transcripts_profile_id_transcript_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_transcripts")),
    )
    op.create_index(
        op.f("ix_session_transcripts_session_id"), "session_transcripts", ["session_id"]
    )
    op.create_index(
        op.f("ix_session_transcripts_therapist_id"), "session_transcripts", ["therapist_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_transcripts_therapist_id"), table_name="session_transcripts")
    op.drop_index(op.f("ix_session_transcripts_session_id"), table_name="session_transcripts")
    op.drop_table("session_transcripts")
