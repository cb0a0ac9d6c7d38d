"""Check-ins: the measures due at a session, answered through one link; an episode's own rules.

Links made before this revision keep their one measure (`instrument_id`) and no check-in.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _created() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def _create_checkins() -> None:
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("timing", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _created(),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("timing IN ('before', 'after', 'any')", name=op.f("ck_checkins_timing")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_checkins_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_checkins_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_checkins_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
    )
    op.create_index(op.f("ix_checkins_episode_id"), "checkins", ["episode_id"])
    op.create_index(op.f("ix_checkins_session_id"), "checkins", ["session_id"])
    op.create_table(
        "checkin_measures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("administration_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_checkin_measures_administration_id_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["checkin_id"], ["checkins.id"], name=op.f("fk_checkin_measures_checkin_id_checkins")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_measures")),
        sa.UniqueConstraint("checkin_id", "position", name="uq_checkin_measures_checkin_position"),
    )
    op.create_index(op.f("ix_checkin_measures_checkin_id"), "checkin_measures", ["checkin_id"])


def _create_episode_schedules() -> None:
    op.create_table(
        "episode_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("session_rule", sa.String(length=60), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_episode_schedules_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_episode_schedules_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episode_schedules")),
        sa.UniqueConstraint(
            "episode_id", "instrument_id", name="uq_episode_schedules_episode_instrument"
        ),
    )
    op.create_index(op.f("ix_episode_schedules_episode_id"), "episode_schedules", ["episode_id"])


def upgrade() -> None:
    _create_checkins()
    _create_episode_schedules()
    with op.batch_alter_table("client_links") as batch:
        batch.alter_column("instrument_id", existing_type=sa.String(length=40), nullable=True)
        batch.add_column(sa.Column("checkin_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("nonce", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            op.f("fk_client_links_checkin_id_checkins"), "checkins", ["checkin_id"], ["id"]
        )
        batch.create_index(op.f("ix_client_links_checkin_id"), ["checkin_id"])


def downgrade() -> None:
    op.execute("DELETE FROM client_links WHERE instrument_id IS NULL")
    with op.batch_alter_table("client_links") as batch:
        batch.drop_index(op.f("ix_client_links_checkin_id"))
        batch.drop_constraint(op.f("fk_client_links_checkin_id_checkins"), type_="foreignkey")
        batch.drop_column("sent_at")
        batch.drop_column("opened_at")
        batch.drop_column("nonce")
        batch.drop_column("checkin_id")
        batch.alter_column("instrument_id", existing_type=sa.String(length=40), nullable=False)
    op.drop_table("episode_schedules")
    op.drop_table("checkin_measures")
    op.drop_table("checkins")
