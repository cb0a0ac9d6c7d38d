"""Email and text messages: the outbox, a user's email address, the client's contact consent.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _in(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_outbox_messages_{name}"))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    with op.batch_alter_table("client_identities") as batch:
        batch.add_column(sa.Column("contact_consent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("to_role", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=True),
        sa.Column("sealed_link", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_answer", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _in("kind", ("invitation", "reminder", "risk"), "kind"),
        _in("channel", ("email", "sms"), "channel"),
        _in("state", ("queued", "sending", "sent", "failed", "cancelled"), "state"),
        _in("to_role", ("client", "therapist", "duty"), "to_role"),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_outbox_messages_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_outbox_messages_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["client_links.id"], name=op.f("fk_outbox_messages_link_id_client_links")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_outbox_messages_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    op.create_index(op.f("ix_outbox_messages_episode_id"), "outbox_messages", ["episode_id"])
    op.create_index(op.f("ix_outbox_messages_link_id"), "outbox_messages", ["link_id"])
    op.create_index("ix_outbox_messages_due", "outbox_messages", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_due", table_name="outbox_messages")
    op.drop_index(op.f("ix_outbox_messages_link_id"), table_name="outbox_messages")
    op.drop_index(op.f("ix_outbox_messages_episode_id"), table_name="outbox_messages")
    op.drop_table("outbox_messages")
    with op.batch_alter_table("client_identities") as batch:
        batch.drop_column("contact_consent_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
