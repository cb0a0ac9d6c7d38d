"""API schemas, kept apart from the tables so internal columns (hashes, secrets) cannot leak."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LastScorePublic(_Out):
    instrument: str
    label: str
    total: float
    session: int


class AlertPublic(_Out):
    key: str
    kind: str
    severity: str
    title: str
    instrument: str
    session: int
    detail: str
    next_steps: list[str]
    acknowledged: bool


class CaseloadRowPublic(_Out):
    episode_id: int
    client_code: str
    stage: str
    sessions: int
    last_session_on: date | None
    last_alliance: LastScorePublic | None
    last_outcome: LastScorePublic | None
    risk: bool
    alerts: list[AlertPublic]


class StageStepPublic(_Out):
    target: str
    direction: str
    allowed: bool
    rule: str | None


class ScorePublic(_Out):
    id: int
    instrument: str
    label: str
    total: float | None
    band: str | None
    flags: list[str]
    source: str


class SessionPublic(_Out):
    id: int
    number: int
    held_on: date
    attendance: str
    administrations: list[ScorePublic] = Field(
        default_factory=list, description="The measures scored at this session."
    )


class GoalPublic(BaseModel):
    id: int
    text: str
    status: str


class EpisodePublic(_Out):
    id: int
    client_code: str
    stage: str
    opened_on: date
    consent_on: date | None
    closed_on: date | None
    closing_reason: str | None = None
    closing_summary: str | None = None
    previous_episode_id: int | None = None
    steps: list[StageStepPublic]
    goals: list[GoalPublic] = Field(default_factory=list)
    sessions: list[SessionPublic]
    alerts: list[AlertPublic] = Field(description="The open alerts, most serious first.")


class ClientCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"display_name": "Sam Example", "email": "sam@example.org"}, {}]
        }
    )
    display_name: str | None = Field(
        default=None, max_length=200, description="Optional; kept apart from clinical data."
    )
    email: str | None = Field(default=None, max_length=254, description="Optional.")
    phone: str | None = Field(default=None, max_length=40, description="Optional; 7 to 15 digits.")


class ClientCreated(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 7, "code": "C-7K3P9QXA"}]})
    id: int
    code: str = Field(description="The generated pseudonymous code used everywhere else.")


class EpisodeSummaryPublic(_Out):
    id: int
    client_code: str
    therapist: str
    opened_on: date
    closed_on: date | None
    closing_reason: str | None
    previous_episode_id: int | None


class ClientPublic(_Out):
    id: int
    code: str
    name: str | None
    email: str | None
    phone: str | None
    episodes: list[EpisodeSummaryPublic]


class EpisodeCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"client_id": 7, "consent_date": "2026-11-30", "goals": ["Sleep through the night"]}
            ]
        }
    )
    client_id: int = Field(ge=1, le=2**31 - 1)
    consent_date: date = Field(description="The day the client consented; not in the future.")
    therapist: str | None = Field(
        default=None, max_length=40, description="Username of the treating therapist (yourself)."
    )
    goals: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=5)


class SessionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"date": "2026-12-01", "attendance": "attended"}]}
    )
    date: date
    attendance: str = Field(
        default="attended", max_length=20, description="attended, cancelled or no_show"
    )


class SessionCreated(BaseModel):
    id: int
    number: int


class ReopenCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Closed by mistake; client returns next week"}]}
    )
    reason: str = Field(max_length=2000, description="Why, in at least 10 characters.")


class StageMoveCreate(BaseModel):
    target: str = Field(max_length=20, description="commitment, process, change or termination")
    reason: str | None = Field(default=None, max_length=1000)


class GoalCreate(BaseModel):
    text: str = Field(max_length=500, description="The goal in the client's own words.")
    status: str = Field(default="agreed", max_length=20)


class BoundaryCreate(BaseModel):
    kind: str = Field(max_length=20, description="rule, ritual, self_disclosure or crossing")
    description: str = Field(max_length=2000)
    occurred_on: date
    client_welfare: str = Field(default="", max_length=1000)
    technique_goal: str = Field(default="", max_length=1000)
    plan_link: str = Field(default="", max_length=1000)


class AcknowledgeCreate(BaseModel):
    signal_key: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=1000)


class LinkCreate(BaseModel):
    session_id: int | None = Field(
        default=None,
        description="The session the form is for. Left out, the answered form waits and is "
        "charted at the next attended session recorded on or after the day it was answered.",
    )
    instrument: str = Field(max_length=40)


class LinkPublic(BaseModel):
    url: str
    expires_at: datetime
    instrument: str


class CheckinPublic(BaseModel):
    """A session's check-in: its measures in order, its state and its link while it is open."""

    id: int
    timing: str = Field(description="before, after, or any (a link made by hand)")
    measures: list[str]
    answered: list[str]
    state: Literal["due", "sent", "opened", "done", "expired"]
    expires_at: datetime
    url: str | None = Field(
        description="The check-in's link; null once done or expired, or when it cannot be shown."
    )


class CreatedPublic(BaseModel):
    id: int


class FieldError(BaseModel):
    field: str
    message: str


class WorksheetCreate(BaseModel):
    """A Miracle Question (answers) or a relapse-prevention plan (the four lists)."""

    kind: str = Field(max_length=30, description="miracle_question or relapse_prevention")
    answers: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list,
        max_length=30,
        description="Miracle Question: each answer becomes a proposed goal.",
    )
    warning_signs: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=30
    )
    triggers: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=30
    )
    coping_steps: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=30
    )
    who_to_call: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=30
    )


class GoalStatusUpdate(BaseModel):
    goal_id: int = Field(ge=1, le=2**31 - 1)
    status: str = Field(max_length=20, description="proposed, agreed, achieved or dropped")


class GoalStatusPublic(BaseModel):
    goal_id: int
    status: str


class NoteCreate(BaseModel):
    kind: str = Field(
        max_length=30, description="transference, countertransference, rupture or repair"
    )
    text: str = Field(max_length=5000)
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=12)


class IncidentCreate(BaseModel):
    """A suspected boundary violation, for the therapist's supervisor."""

    description: str = Field(max_length=5000)
    occurred_on: date


class ClosingCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"closed_on": "2026-12-01", "closing_reason": "planned", "summary": "Goals met."}
            ]
        }
    )
    closed_on: date
    closing_reason: str = Field(
        max_length=20,
        description="Why the episode ended: planned, dropout, referred or other",
    )
    summary: str | None = Field(default=None, max_length=5000)


class ClosingPublic(BaseModel):
    episode_id: int
    closed_on: date
    closing_reason: str
    warnings: list[str]


class AttendanceUpdate(BaseModel):
    attendance: str = Field(max_length=20, description="attended, cancelled or no_show")


class AttendancePublic(BaseModel):
    session_id: int
    attendance: str


TranscriptFormat = Literal["text", "vtt", "srt", "jsonl"]
SpeakerRole = Literal["therapist", "client", "none"]


class TranscriptCreate(BaseModel):
    """A transcript's text (up to 2 MB) and the role of each speaker name it uses."""

    text: Annotated[str, Field(max_length=2 * 1024 * 1024)]
    format: TranscriptFormat | None = None
    speakers: dict[Annotated[str, Field(max_length=40)], SpeakerRole] = {}
    keep_text: bool = False


class CorrectionCreate(BaseModel):
    line: int
    code: Annotated[str, Field(max_length=40)]


class ShareUpdate(BaseModel):
    shared: bool


class TextDelete(BaseModel):
    confirm: bool


class CodedLinePublic(_Out):
    line: int
    speaker: str
    code: str
    confidence: float
    markers: list[str]
    corrected: bool
    text: str | None


class TranscriptPublic(_Out):
    id: int
    episode_id: int
    session_id: int
    status: str
    progress: int
    error: str | None
    file_format: str
    shared: bool
    text_kept: bool
    profile: dict[str, Any] | None
    lines: list[CodedLinePublic]
    warnings: list[str]


class TrendPublic(_Out):
    transcript_id: int
    episode_id: int
    session_id: int
    session_number: int
    held_on: date
    client_code: str
    therapist: str
    metrics: dict[str, float | None]
    markers: int
    srs: float | None
    outcome: str | None
    outcome_total: float | None
