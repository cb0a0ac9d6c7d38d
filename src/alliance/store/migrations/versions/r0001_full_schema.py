"""The full schema: every table of the product, created at once.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    op.create_index(
        "ix_audit_events_object", "audit_events", ["object_type", "object_id"], unique=False
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_clients_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("code", name=op.f("uq_clients_code")),
    )
    op.create_index(
        op.f("ix_clients_organisation_id"), "clients", ["organisation_id"], unique=False
    )
    op.create_table(
        "etr_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_episodes", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_etr_models_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etr_models")),
    )
    op.create_table(
        "instrument_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("session_rule", sa.String(length=60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_instrument_schedules_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_schedules")),
        sa.UniqueConstraint(
            "organisation_id", "instrument_id", name="uq_instrument_schedules_org_instrument"
        ),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('therapist', 'supervisor', 'admin')", name=op.f("ck_users_role")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"], ["users.id"], name=op.f("fk_users_supervisor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_users_supervisor_id"), "users", ["supervisor_id"], unique=False)
    op.create_table(
        "client_identities",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("contact", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_identities_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_identities")),
    )
    op.create_table(
        "episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("consent_on", sa.Date(), nullable=True),
        sa.Column("consent_recorded_by", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closing_summary", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "stage IN ('commitment', 'process', 'change', 'termination')",
            name=op.f("ck_episodes_stage"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_episodes_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["consent_recorded_by"],
            ["users.id"],
            name=op.f("fk_episodes_consent_recorded_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["users.id"], name=op.f("fk_episodes_therapist_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episodes")),
    )
    op.create_index(op.f("ix_episodes_client_id"), "episodes", ["client_id"], unique=False)
    op.create_index(op.f("ix_episodes_therapist_id"), "episodes", ["therapist_id"], unique=False)
    op.create_table(
        "boundary_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'reviewed')", name=op.f("ck_boundary_incidents_status")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_boundary_incidents_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"], ["users.id"], name=op.f("fk_boundary_incidents_reported_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_boundary_incidents_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"], ["users.id"], name=op.f("fk_boundary_incidents_supervisor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boundary_incidents")),
    )
    op.create_index(
        op.f("ix_boundary_incidents_episode_id"), "boundary_incidents", ["episode_id"], unique=False
    )
    op.create_index(
        op.f("ix_boundary_incidents_supervisor_id"),
        "boundary_incidents",
        ["supervisor_id"],
        unique=False,
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("attendance", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "attendance IN ('attended', 'cancelled', 'no_show')",
            name=op.f("ck_sessions_attendance"),
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_sessions_number_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_sessions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_sessions_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("episode_id", "number", name="uq_sessions_episode_number"),
    )
    op.create_index(op.f("ix_sessions_episode_id"), "sessions", ["episode_id"], unique=False)
    op.create_table(
        "signal_acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("signal_key", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_signal_acknowledgements_episode_id_episodes"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_signal_acknowledgements_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_acknowledgements")),
    )
    op.create_index(
        op.f("ix_signal_acknowledgements_episode_id"),
        "signal_acknowledgements",
        ["episode_id"],
        unique=False,
    )
    op.create_table(
        "stage_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "to_stage IN ('commitment', 'process', 'change', 'termination')",
            name=op.f("ck_stage_transitions_to_stage"),
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_stage_transitions_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_stage_transitions_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_transitions")),
    )
    op.create_index(
        op.f("ix_stage_transitions_episode_id"), "stage_transitions", ["episode_id"], unique=False
    )
    op.create_table(
        "administrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("subscales", sa.JSON(), nullable=False),
        sa.Column("band", sa.String(length=60), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("validity", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('link', 'tablet', 'paper', 'import')",
            name=op.f("ck_administrations_source"),
        ),
        sa.CheckConstraint(
            "validity IN ('complete', 'prorated', 'invalid')",
            name=op.f("ck_administrations_validity"),
        ),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["users.id"], name=op.f("fk_administrations_entered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_administrations_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_administrations_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_administrations")),
    )
    op.create_index(
        op.f("ix_administrations_episode_id"), "administrations", ["episode_id"], unique=False
    )
    op.create_index(
        op.f("ix_administrations_session_id"), "administrations", ["session_id"], unique=False
    )
    op.create_table(
        "boundary_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("client_welfare", sa.Text(), nullable=True),
        sa.Column("technique_goal", sa.Text(), nullable=True),
        sa.Column("plan_link", sa.Text(), nullable=True),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('rule', 'ritual', 'self_disclosure', 'crossing')",
            name=op.f("ck_boundary_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_boundary_events_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_boundary_events_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_boundary_events_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boundary_events")),
    )
    op.create_index(
        op.f("ix_boundary_events_episode_id"), "boundary_events", ["episode_id"], unique=False
    )
    op.create_table(
        "relational_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('transference', 'countertransference', 'rupture', 'repair')",
            name=op.f("ck_relational_notes_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_relational_notes_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_relational_notes_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_relational_notes_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relational_notes")),
    )
    op.create_index(
        op.f("ix_relational_notes_episode_id"), "relational_notes", ["episode_id"], unique=False
    )
    op.create_table(
        "transcript_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=60), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_transcript_profiles_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_transcript_profiles_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_profiles")),
    )
    op.create_index(
        op.f("ix_transcript_profiles_session_id"),
        "transcript_profiles",
        ["session_id"],
        unique=False,
    )
    op.create_table(
        "worksheets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('miracle_question', 'relapse_prevention')", name=op.f("ck_worksheets_kind")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_worksheets_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_worksheets_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_worksheets_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worksheets")),
    )
    op.create_index(op.f("ix_worksheets_episode_id"), "worksheets", ["episode_id"], unique=False)
    op.create_table(
        "client_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("administration_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_client_links_administration_id_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_client_links_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_client_links_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_client_links_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_client_links_token_hash")),
    )
    op.create_index(
        op.f("ix_client_links_episode_id"), "client_links", ["episode_id"], unique=False
    )
    op.create_table(
        "code_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcript_profile_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("utterance_index", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=20), nullable=True),
        sa.Column("original_code", sa.String(length=40), nullable=False),
        sa.Column("corrected_code", sa.String(length=40), nullable=False),
        sa.Column("corrected_by", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrected_by"], ["users.id"], name=op.f("fk_code_corrections_corrected_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_code_corrections_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["transcript_profile_id"],
            ["transcript_profiles.id"],
            name=op.f("fk_code_corrections_transcript_profile_id_transcript_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_corrections")),
    )
    op.create_index(
        op.f("ix_code_corrections_session_id"), "code_corrections", ["session_id"], unique=False
    )
    op.create_table(
        "goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("worksheet_id", sa.Integer(), nullable=True),
        sa.Column("agreed_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('proposed', 'agreed', 'achieved', 'dropped')", name=op.f("ck_goals_status")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_goals_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_goals_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["worksheet_id"], ["worksheets.id"], name=op.f("fk_goals_worksheet_id_worksheets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goals")),
    )
    op.create_index(op.f("ix_goals_episode_id"), "goals", ["episode_id"], unique=False)
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('technique', 'homework', 'other')", name=op.f("ck_tasks_kind")
        ),
        sa.CheckConstraint("status IN ('open', 'done', 'dropped')", name=op.f("ck_tasks_status")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_tasks_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_tasks_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(["goal_id"], ["goals.id"], name=op.f("fk_tasks_goal_id_goals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_episode_id"), "tasks", ["episode_id"], unique=False)
    op.create_index(op.f("ix_tasks_goal_id"), "tasks", ["goal_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_goal_id"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_episode_id"), table_name="tasks")
    op.drop_table("tasks")
    op.drop_index(op.f("ix_goals_episode_id"), table_name="goals")
    op.drop_table("goals")
    op.drop_index(op.f("ix_code_corrections_session_id"), table_name="code_corrections")
    op.drop_table("code_corrections")
    op.drop_index(op.f("ix_client_links_episode_id"), table_name="client_links")
    op.drop_table("client_links")
    op.drop_index(op.f("ix_worksheets_episode_id"), table_name="worksheets")
    op.drop_table("worksheets")
    op.drop_index(op.f("ix_transcript_profiles_session_id"), table_name="transcript_profiles")
    op.drop_table("transcript_profiles")
    op.drop_index(op.f("ix_relational_notes_episode_id"), table_name="relational_notes")
    op.drop_table("relational_notes")
    op.drop_index(op.f("ix_boundary_events_episode_id"), table_name="boundary_events")
    op.drop_table("boundary_events")
    op.drop_index(op.f("ix_administrations_session_id"), table_name="administrations")
    op.drop_index(op.f("ix_administrations_episode_id"), table_name="administrations")
    op.drop_table("administrations")
    op.drop_index(op.f("ix_stage_transitions_episode_id"), table_name="stage_transitions")
    op.drop_table("stage_transitions")
    op.drop_index(
        op.f("ix_signal_acknowledgements_episode_id"), table_name="signal_acknowledgements"
    )
    op.drop_table("signal_acknowledgements")
    op.drop_index(op.f("ix_sessions_episode_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index(op.f("ix_boundary_incidents_supervisor_id"), table_name="boundary_incidents")
    op.drop_index(op.f("ix_boundary_incidents_episode_id"), table_name="boundary_incidents")
    op.drop_table("boundary_incidents")
    op.drop_index(op.f("ix_episodes_therapist_id"), table_name="episodes")
    op.drop_index(op.f("ix_episodes_client_id"), table_name="episodes")
    op.drop_table("episodes")
    op.drop_table("client_identities")
    op.drop_index(op.f("ix_users_supervisor_id"), table_name="users")
    op.drop_index(op.f("ix_users_organisation_id"), table_name="users")
    op.drop_table("users")
    op.drop_table("instrument_schedules")
    op.drop_table("etr_models")
    op.drop_index(op.f("ix_clients_organisation_id"), table_name="clients")
    op.drop_table("clients")
    op.drop_table("organisations")
    op.drop_index("ix_audit_events_object", table_name="audit_events")
    op.drop_table("audit_events")
