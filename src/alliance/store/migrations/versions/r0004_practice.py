"""A practice from an empty database: client contact, linked and reopened episodes, incident
steps, personal API tokens.

Incidents marked "reviewed" before this revision become "resolved" (the one step they had).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_clients_created_by_users"), "users", ["created_by"], ["id"]
        )
    with op.batch_alter_table("client_identities") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("previous_episode_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_episodes_previous_episode_id_episodes"),
            "episodes",
            ["previous_episode_id"],
            ["id"],
        )
    op.create_table(
        "episode_reopenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reopened_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("closing_reason", sa.String(length=20), nullable=True),
        sa.Column("closing_summary", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_episode_reopenings_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["reopened_by"], ["users.id"], name=op.f("fk_episode_reopenings_reopened_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episode_reopenings")),
    )
    op.create_index(op.f("ix_episode_reopenings_episode_id"), "episode_reopenings", ["episode_id"])
    with op.batch_alter_table("boundary_incidents") as batch:
        batch.drop_constraint(op.f("ck_boundary_incidents_status"), type_="check")
    op.execute("UPDATE boundary_incidents SET status = 'resolved' WHERE status = 'reviewed'")
    with op.batch_alter_table("boundary_incidents") as batch:
        batch.create_check_constraint(
            op.f("ck_boundary_incidents_status"), "status IN ('open', 'acknowledged', 'resolved')"
        )
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "step IN ('acknowledged', 'responded', 'resolved')", name=op.f("ck_incident_steps_step")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["boundary_incidents.id"],
            name=op.f("fk_incident_steps_incident_id_boundary_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_incident_steps_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_steps")),
    )
    op.create_index(op.f("ix_incident_steps_incident_id"), "incident_steps", ["incident_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_incident_steps_incident_id"), table_name="incident_steps")
    op.drop_table("incident_steps")
    with op.batch_alter_table("boundary_incidents") as batch:
        batch.drop_constraint(op.f("ck_boundary_incidents_status"), type_="check")
    op.execute("UPDATE boundary_incidents SET status = 'reviewed' WHERE status <> 'open'")
    with op.batch_alter_table("boundary_incidents") as batch:
        batch.create_check_constraint(
            op.f("ck_boundary_incidents_status"), "status IN ('open', 'reviewed')"
        )
    op.drop_index(op.f("ix_episode_reopenings_episode_id"), table_name="episode_reopenings")
    op.drop_table("episode_reopenings")
    with op.batch_alter_table("episodes") as batch:
        batch.drop_constraint(op.f("fk_episodes_previous_episode_id_episodes"), type_="foreignkey")
        batch.drop_column("previous_episode_id")
    with op.batch_alter_table("client_identities") as batch:
        batch.drop_column("phone")
        batch.drop_column("email")
    with op.batch_alter_table("clients") as batch:
        batch.drop_constraint(op.f("fk_clients_created_by_users"), type_="foreignkey")
        batch.drop_column("created_by")
