"""Every table of the product, declared once; the Alembic revisions create exactly these.

Timestamps are UTC; clinical dates (opened, consent, sessions) are plain dates.
Free text written by or about a client lives only in columns meant for it, never in audit rows.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# Stable constraint names let later revisions alter constraints on both engines.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

STAGES = ("commitment", "process", "change", "termination")
CLOSING_REASONS = ("planned", "dropout", "referred", "other")
INCIDENT_STATES = ("open", "acknowledged", "resolved")


def _in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    _created(),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False, index=True),
    Column("username", String(40), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("must_change_password", Boolean, nullable=False, default=True),
    Column("totp_secret", String(64), nullable=True),
    # The second factor counts only once confirmed with a code; the last accepted time step
    # stops a code being replayed inside its window (RFC 6238 section 5.2).
    Column("totp_enabled", Boolean, nullable=False, default=False, server_default=false()),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("supervisor_id", ForeignKey("users.id"), nullable=True, index=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    _created(),
    _in("role", ("therapist", "supervisor", "admin"), "role"),
)

clients = Table(
    "clients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False, index=True),
    Column("code", String(32), nullable=False, unique=True),
    _created(),
    # Who added the client: they see the client before any episode is opened (migration 0004).
    Column("created_by", ForeignKey("users.id"), nullable=True),
)

# Identity is optional and kept apart, so every other table stays pseudonymous.
client_identities = Table(
    "client_identities",
    metadata,
    Column("client_id", ForeignKey("clients.id"), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("contact", String(500), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Where check-ins are sent; both optional (migration 0004).
    Column("email", String(254), nullable=True),
    Column("phone", String(40), nullable=True),
)

episodes = Table(
    "episodes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False, index=True),
    Column("therapist_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("opened_on", Date, nullable=False),
    Column("consent_on", Date, nullable=True),
    Column("consent_recorded_by", ForeignKey("users.id"), nullable=True),
    Column("stage", String(20), nullable=False),
    Column("closed_on", Date, nullable=True),
    Column("closing_summary", Text, nullable=True),
    _created(),
    # NULL only for episodes closed before the reason was recorded (migration 0003).
    Column("closing_reason", String(20), nullable=True),
    # A returning client's new episode points at the one before it (migration 0004).
    Column("previous_episode_id", ForeignKey("episodes.id"), nullable=True),
    _in("stage", STAGES, "stage"),
    _in("closing_reason", CLOSING_REASONS, "closing_reason"),
)

# Reopening a closed episode keeps what the closing said, with who reopened it and why.
episode_reopenings = Table(
    "episode_reopenings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("reopened_at", DateTime(timezone=True), nullable=False),
    Column("reopened_by", ForeignKey("users.id"), nullable=True),
    Column("reason", Text, nullable=False),
    Column("closed_on", Date, nullable=False),
    Column("closing_reason", String(20), nullable=True),
    Column("closing_summary", Text, nullable=True),
)

stage_transitions = Table(
    "stage_transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("from_stage", String(20), nullable=True),
    Column("to_stage", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by_user_id", ForeignKey("users.id"), nullable=True),
    Column("reason", Text, nullable=True),
    _in("to_stage", STAGES, "to_stage"),
)

worksheets = Table(
    "worksheets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    Column("kind", String(30), nullable=False),
    Column("content", JSON, nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    _in("kind", ("miracle_question", "relapse_prevention"), "kind"),
)

goals = Table(
    "goals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("text", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("worksheet_id", ForeignKey("worksheets.id"), nullable=True),
    Column("agreed_on", Date, nullable=True),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    _in("status", ("proposed", "agreed", "achieved", "dropped"), "status"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("goal_id", ForeignKey("goals.id"), nullable=False, index=True),
    Column("description", String(500), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    _in("kind", ("technique", "homework", "other"), "kind"),
    _in("status", ("open", "done", "dropped"), "status"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("held_on", Date, nullable=False),
    Column("attendance", String(20), nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    UniqueConstraint("episode_id", "number", name="uq_sessions_episode_number"),
    CheckConstraint("number >= 1", name="number_positive"),
    _in("attendance", ("attended", "cancelled", "no_show"), "attendance"),
)

boundary_events = Table(
    "boundary_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    Column("kind", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("client_welfare", Text, nullable=True),
    Column("technique_goal", Text, nullable=True),
    Column("plan_link", Text, nullable=True),
    Column("occurred_on", Date, nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    _in("kind", ("rule", "ritual", "self_disclosure", "crossing"), "kind"),
)

# A suspected violation goes to the supervisor as an incident, never into the routine log.
boundary_incidents = Table(
    "boundary_incidents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("reported_by", ForeignKey("users.id"), nullable=True),
    Column("supervisor_id", ForeignKey("users.id"), nullable=True, index=True),
    Column("occurred_on", Date, nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(20), nullable=False),
    _created(),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
    Column("reviewed_by", ForeignKey("users.id"), nullable=True),
    _in("status", INCIDENT_STATES, "status"),
)

# Each step a supervisor takes on an incident, kept in order: acknowledged, responded, resolved.
incident_steps = Table(
    "incident_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", ForeignKey("boundary_incidents.id"), nullable=False, index=True),
    Column("step", String(20), nullable=False),
    Column("text", Text, nullable=True),
    Column("by_user_id", ForeignKey("users.id"), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    _in("step", ("acknowledged", "responded", "resolved"), "step"),
)

relational_notes = Table(
    "relational_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    Column("kind", String(30), nullable=False),
    Column("text", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    _in("kind", ("transference", "countertransference", "rupture", "repair"), "kind"),
)

administrations = Table(
    "administrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True, index=True),
    Column("instrument_id", String(40), nullable=False),
    Column("answers", JSON, nullable=False),
    Column("total", Float, nullable=True),
    Column("subscales", JSON, nullable=False),
    Column("band", String(60), nullable=True),
    Column("flags", JSON, nullable=False),
    Column("validity", String(20), nullable=False),
    Column("source", String(20), nullable=False),
    Column("entered_by", ForeignKey("users.id"), nullable=True),
    _created(),
    _in("validity", ("complete", "prorated", "invalid"), "validity"),
    _in("source", ("link", "tablet", "paper", "import"), "source"),
)

signal_acknowledgements = Table(
    "signal_acknowledgements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("signal_key", String(200), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=True),
)

client_links = Table(
    "client_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    Column("instrument_id", String(40), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("administration_id", ForeignKey("administrations.id"), nullable=True),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
)

instrument_schedules = Table(
    "instrument_schedules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("instrument_id", String(40), nullable=False),
    Column("session_rule", String(60), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    _created(),
    UniqueConstraint(
        "organisation_id", "instrument_id", name="uq_instrument_schedules_org_instrument"
    ),
)

# An admin's time-limited, read-only access to one episode; the reason stays here, not in the
# audit log (which records only "break_glass" on the episode).
break_glass_grants = Table(
    "break_glass_grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Integer, nullable=True),
    Column("action", String(40), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(64), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_events_object", "object_type", "object_id"),
)

transcript_profiles = Table(
    "transcript_profiles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=False, index=True),
    Column("profile", JSON, nullable=False),
    Column("model_version", String(60), nullable=True),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
)

code_corrections = Table(
    "code_corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("transcript_profile_id", ForeignKey("transcript_profiles.id"), nullable=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=False, index=True),
    Column("utterance_index", Integer, nullable=False),
    Column("speaker", String(20), nullable=True),
    Column("original_code", String(40), nullable=False),
    Column("corrected_code", String(40), nullable=False),
    Column("corrected_by", ForeignKey("users.id"), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Personal API tokens: only a SHA-256 of the secret is kept; the prefix lets a list name a token.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("label", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

etr_models = Table(
    "etr_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=True),
    Column("instrument_id", String(40), nullable=False),
    Column("fitted_at", DateTime(timezone=True), nullable=False),
    Column("n_episodes", Integer, nullable=False),
    Column("params", JSON, nullable=False),
)

# The sign-in throttle's window, shared by every worker process: one row per password attempt
# counted, kept for one window (alliance.services.sign_in_throttle deletes older ones).
sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(100), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)
