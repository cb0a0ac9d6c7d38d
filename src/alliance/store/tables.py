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
    # Where a risk notification reaches this user; optional (migration 0010).
    Column("email", String(254), nullable=True),
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
    # When the client agreed to be sent check-ins by email or text; NULL: not agreed (0010).
    Column("contact_consent_at", DateTime(timezone=True), nullable=True),
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
    # NULL for a check-in's link, which runs the check-in's measures instead (migration 0008).
    Column("instrument_id", String(40), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # A check-in's link is used once every measure is answered; until then it may be reopened.
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("administration_id", ForeignKey("administrations.id"), nullable=True),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    # Migration 0008: the check-in the link runs; the nonce from which the token is derived
    # with the server's key (so the link can be shown again, while the database alone opens
    # nothing); when it was first opened and when it was sent.
    Column("checkin_id", ForeignKey("checkins.id"), nullable=True, index=True),
    Column("nonce", String(32), nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
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
    # sha256 of the written row's canonical form (audit.row_digest); NULL for reads.
    Column("row_hash", String(64), nullable=True),
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

# An admin's password reset, kept so the first sign-in after it is flagged to the user, to their
# supervisor and in the audit (an admin who knows the one-time password could sign in as them).
password_resets = Table(
    "password_resets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("reset_by", ForeignKey("users.id"), nullable=False),
    Column("reset_at", DateTime(timezone=True), nullable=False),
    Column("signed_in_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
)

# Sign-in sessions: the cookie holds a random secret; only its SHA-256 is kept, so a copy of the
# table signs nobody in. A row ends (ended_at) at sign-out, a password change or reset, a
# deactivation, or "sign out everywhere"; timeouts are checked against created and last seen.
login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    _created(),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_reason", String(20), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(200), nullable=True),
    # The reset this sign-in followed: every audit event of the session is marked.
    Column("after_reset_id", ForeignKey("password_resets.id"), nullable=True),
)

MESSAGE_KINDS = ("invitation", "reminder", "risk")
MESSAGE_CHANNELS = ("email", "sms")
MESSAGE_STATES = ("queued", "sending", "sent", "failed", "cancelled")
MESSAGE_RECIPIENTS = ("client", "therapist", "duty")

# The outbox: every email and text message, queued, sent or failed, kept. A message carries no
# clinical content; the link it sends is sealed with the secret key (a copy of the database
# opens no form), and the duty contact's address is read from the settings when it is sent.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    Column("link_id", ForeignKey("client_links.id"), nullable=True, index=True),
    Column("kind", String(20), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("to_role", String(20), nullable=False),
    Column("recipient", String(254), nullable=True),
    Column("sealed_link", Text, nullable=True),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("last_answer", String(500), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    _in("kind", MESSAGE_KINDS, "kind"),
    _in("channel", MESSAGE_CHANNELS, "channel"),
    _in("state", MESSAGE_STATES, "state"),
    _in("to_role", MESSAGE_RECIPIENTS, "to_role"),
    Index("ix_outbox_messages_due", "state", "next_attempt_at"),
)

# A transcript uploaded to a session page: held while its speakers are mapped and it is coded,
# then only its codes (no words) unless the therapist chose to keep the text. Seen by the
# treating therapist, and by their supervisor only while `shared_at` is set.
TRANSCRIPT_STATUSES = ("mapping", "queued", "coding", "done", "failed")
session_transcripts = Table(
    "session_transcripts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=False, index=True),
    Column("therapist_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("error", String(300), nullable=True),
    Column("file_format", String(10), nullable=False),
    Column("keep_text", Boolean, nullable=False),
    Column("pending", Text, nullable=True),
    Column("speakers", JSON, nullable=True),
    Column("coded", JSON, nullable=True),
    Column("codes", JSON, nullable=True),
    Column("warnings", JSON, nullable=True),
    Column("profile_id", ForeignKey("transcript_profiles.id"), nullable=True),
    Column("shared_at", DateTime(timezone=True), nullable=True),
    Column("text_deleted_at", DateTime(timezone=True), nullable=True),
    _created(),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    _in("status", TRANSCRIPT_STATUSES, "status"),
)

# A clinic's licensed wording of a measure whose wording does not ship (migration 0009): the
# checked wording file, and who holds the licence since when. One row per clinic and measure.
instrument_wordings = Table(
    "instrument_wordings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("instrument_id", String(40), nullable=False),
    Column("wording", JSON, nullable=False),
    Column("licence_holder", String(200), nullable=False),
    Column("licence_date", Date, nullable=False),
    Column("uploaded_by", ForeignKey("users.id"), nullable=False),
    _created(),
    UniqueConstraint(
        "organisation_id", "instrument_id", name="uq_instrument_wordings_org_instrument"
    ),
)

# What a client is shown after endorsing a risk item: the clinic's own text and numbers
# (migration 0009). Without a row a safe default points to local emergency services.
crisis_info = Table(
    "crisis_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("numbers", JSON, nullable=False),
    Column("updated_by", ForeignKey("users.id"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The clinic's mail server as the admin set it on /admin/mail (migration 0012): one row for the
# install. The password is sealed with the secret key (alliance.services.sealing); the
# ALLIANCE_SMTP_URL setting, when set, wins over this row.
mail_server = Table(
    "mail_server",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host", String(253), nullable=False),
    Column("port", Integer, nullable=False),
    Column("security", String(10), nullable=False),
    Column("username", String(254), nullable=True),
    Column("sealed_password", Text, nullable=True),
    Column("mail_from", String(254), nullable=False),
    Column("updated_by", ForeignKey("users.id"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("security IN ('starttls', 'implicit')", name="security"),
)

# A form sent by a client with a risk item endorsed: the treating therapist sees a banner until
# they acknowledge it (migration 0009). It holds no answer, only which form and episode.
risk_notices = Table(
    "risk_notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("administration_id", ForeignKey("administrations.id"), nullable=False, unique=True),
    Column("therapist_id", ForeignKey("users.id"), nullable=False, index=True),
    _created(),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", ForeignKey("users.id"), nullable=True),
)


CHECKIN_TIMINGS = ("before", "after", "any")

# An episode's own rule for a measure, in place of the clinic's (migration 0008).
episode_schedules = Table(
    "episode_schedules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("instrument_id", String(40), nullable=False),
    Column("session_rule", String(60), nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    UniqueConstraint("episode_id", "instrument_id", name="uq_episode_schedules_episode_instrument"),
)

# The measures due before or after one session, answered through one link (migration 0008).
checkins = Table(
    "checkins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", ForeignKey("episodes.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True, index=True),
    Column("timing", String(10), nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=True),
    _created(),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    _in("timing", CHECKIN_TIMINGS, "timing"),
)

checkin_measures = Table(
    "checkin_measures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("checkin_id", ForeignKey("checkins.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("instrument_id", String(40), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("administration_id", ForeignKey("administrations.id"), nullable=True),
    UniqueConstraint("checkin_id", "position", name="uq_checkin_measures_checkin_position"),
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
