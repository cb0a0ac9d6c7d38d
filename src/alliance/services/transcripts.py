"""Transcripts on the session page: upload, map speakers, code in the background, correct, share.

Private by default: a transcript, its codes and its profile are seen by the treating therapist
only, and by their supervisor only while the therapist shares that session's transcript. The
words are kept only when the therapist asks; deleting them keeps the counts. Every view is
audited with ids only (DOMAIN.md section 7).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, inspect, select, update

from alliance.errors import FormError, NotVisibleError
from alliance.store import tables as t
from alliance.store.access import Access, Viewer, visible_therapists
from alliance.store.base import utc_now
from alliance.store.sessions import session_number
from alliance.transcripts import TranscriptError, code_utterances, session_profile
from alliance.transcripts.corrections import validate_code
from alliance.transcripts.errors import CorrectionError
from alliance.transcripts.model import CodedUtterance, Role, Utterance
from alliance.transcripts.parse import (
    decode_upload,
    detect_format,
    parse_lines,
    speaker_labels,
)
from alliance.transcripts.profile import MarkerHit, SessionProfile

log = logging.getLogger("alliance.transcripts")

# An hour's session transcribed is about 60 kB of text; 2 MB leaves room for long exports.
TRANSCRIPT_MAX_BYTES = 2 * 1024 * 1024
FORMATS = ("text", "vtt", "srt", "jsonl")
ROLES: tuple[str, ...] = ("therapist", "client", "none")
MODEL_VERSION = "transcripts-default"
PENDING = ("mapping", "queued", "coding")


@dataclass(frozen=True)
class TranscriptView:
    """One session transcript as its reader may see it."""

    id: int
    session_id: int
    episode_id: int
    therapist_id: int
    status: str
    progress: int
    error: str | None
    file_format: str
    keep_text: bool
    shared: bool
    text_deleted: bool
    created_at: Any
    speakers: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    is_owner: bool = False

    @property
    def pending(self) -> bool:
        return self.status in PENDING


def owner_clause(viewer: Viewer) -> Any:
    """The transcripts this viewer may read: their own, or a supervisee's shared ones."""
    if viewer.role == "therapist":
        return t.session_transcripts.c.therapist_id == viewer.user_id
    if viewer.role == "supervisor":
        supervisees = visible_therapists("supervisor", viewer.user_id).scalar_subquery()
        return t.session_transcripts.c.therapist_id.in_(supervisees) & (
            t.session_transcripts.c.shared_at.is_not(None)
        )
    return t.session_transcripts.c.id.is_(None)


def _query() -> Any:
    return select(
        t.session_transcripts,
        t.sessions.c.episode_id,
        t.transcript_profiles.c.profile.label("profile_json"),
    ).select_from(
        t.session_transcripts.join(
            t.sessions, t.sessions.c.id == t.session_transcripts.c.session_id
        ).outerjoin(
            t.transcript_profiles,
            t.transcript_profiles.c.id == t.session_transcripts.c.profile_id,
        )
    )


def _view(row: Row[Any], viewer: Viewer) -> TranscriptView:
    owner = viewer.role == "therapist" and row.therapist_id == viewer.user_id
    text = {int(c["line"]): c["text"] for c in (row.coded or [])}
    lines = [{**c, "text": text.get(int(c["line"]))} for c in (row.codes or [])]
    return TranscriptView(
        id=row.id,
        session_id=row.session_id,
        episode_id=row.episode_id,
        therapist_id=row.therapist_id,
        status=row.status,
        progress=row.progress,
        error=row.error,
        file_format=row.file_format,
        keep_text=row.keep_text,
        shared=row.shared_at is not None,
        text_deleted=row.text_deleted_at is not None,
        created_at=row.created_at,
        speakers=list(row.speakers or []) if owner else [],
        lines=lines,
        profile=row.profile_json,
        warnings=list(row.warnings or []),
        is_owner=owner,
    )


def _row(conn: Connection, viewer: Viewer, transcript_id: int, *, write: bool) -> Row[Any]:
    """The transcript row, or NotVisibleError: not visible and not found are one answer."""
    if write and viewer.role != "therapist":
        raise NotVisibleError("transcript")
    # Only the treating therapist writes; a supervisor reads what is shared with them.
    clause = (
        t.session_transcripts.c.therapist_id == viewer.user_id if write else owner_clause(viewer)
    )
    row = conn.execute(_query().where(t.session_transcripts.c.id == transcript_id, clause)).first()
    if row is None:
        raise NotVisibleError("transcript")
    return row


def transcript(conn: Connection, viewer: Viewer, transcript_id: int) -> TranscriptView:
    """One transcript, audited."""
    row = _row(conn, viewer, transcript_id, write=False)
    Access(conn, viewer).record("transcript.view", "session_transcript", transcript_id)
    return _view(row, viewer)


def for_session(
    conn: Connection, viewer: Viewer, episode_id: int, session_id: int
) -> list[TranscriptView]:
    """The transcripts of one session this viewer may see, newest first; each view audited."""
    access = Access(conn, viewer)
    access.episode(episode_id)
    rows = conn.execute(
        _query()
        .where(
            t.session_transcripts.c.session_id == session_id,
            t.sessions.c.episode_id == episode_id,
            owner_clause(viewer),
        )
        .order_by(t.session_transcripts.c.id.desc())
    ).all()
    for row in rows:
        access.record("transcript.view", "session_transcript", row.id)
    return [_view(r, viewer) for r in rows]


def _check_session(conn: Connection, viewer: Viewer, episode_id: int, session_id: int) -> None:
    Access(conn, viewer).episode(episode_id, write=True)
    if session_number(conn, episode_id, session_id) is None:
        raise NotVisibleError("session")


def _refuse(exc: TranscriptError, field_name: str = "file") -> FormError:
    """A parse refusal as a form error; the upload's name is the user's own, the line is kept."""
    where = f"line {exc.line}: " if exc.line is not None else ""
    return FormError({field_name: f"{where}{exc.message}"})


def _format(filename: str, lines: list[str], fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise FormError({"format": f"{fmt!r} is not a format; allowed: {', '.join(FORMATS)}"})
        return fmt
    from pathlib import Path

    return detect_format(Path(filename or "upload.txt"), lines[:20])


def upload(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    *,
    filename: str,
    raw: bytes,
    keep_text: bool,
    fmt: str | None = None,
) -> int:
    """Read an uploaded transcript and hold it while its speakers are mapped; returns its id.

    A file that cannot be read is refused with the line where there is one, and nothing is kept.
    """
    _check_session(conn, viewer, episode_id, session_id)
    if len(raw) > TRANSCRIPT_MAX_BYTES:
        raise FormError(
            {"file": f"the file is {len(raw) / 1048576:.1f} MB; the limit is 2 MB per transcript"}
        )
    try:
        lines, _ = decode_upload(raw, "upload")
        file_format = _format(filename, lines, fmt)
        labels = speaker_labels(lines, "upload", file_format)
    except TranscriptError as exc:
        raise _refuse(exc) from None
    new = conn.execute(
        insert(t.session_transcripts).values(
            session_id=session_id,
            therapist_id=viewer.user_id,
            status="mapping",
            progress=0,
            file_format=file_format,
            keep_text=keep_text,
            pending="\n".join(lines),
            speakers=[
                {"label": s.label, "first_line": s.first_line, "turns": s.turns, "role": s.role}
                for s in labels
            ],
            created_at=utc_now(),
        )
    ).inserted_primary_key
    assert new is not None
    Access(conn, viewer).record("transcript.upload", "session", session_id)
    return int(new[0])


def _mapping(labels: Sequence[Mapping[str, Any]], roles: Mapping[str, str]) -> dict[str, Role]:
    """The speakers map from the form: every name found gets therapist, client or none."""
    errors: dict[str, str] = {}
    out: dict[str, Role] = {}
    for k, label in enumerate(labels):
        role = roles.get(f"speaker_{k}", "")
        if role not in ROLES:
            errors[f"speaker_{k}"] = (
                f"speaker {k + 1}: {role!r} is not a role; allowed: therapist, client, none"
            )
        elif role != "none":
            out[str(label["label"])] = "therapist" if role == "therapist" else "client"
    if errors:
        raise FormError(errors)
    if "therapist" not in out.values() and "client" not in out.values():
        raise FormError({"speaker_0": "no speakers: map at least one name to therapist or client"})
    return out


def map_speakers(
    conn: Connection, viewer: Viewer, transcript_id: int, roles: Mapping[str, str]
) -> int:
    """Check the speakers map on the held text and queue the transcript for coding."""
    row = _row(conn, viewer, transcript_id, write=True)
    if row.status != "mapping":
        raise FormError({"speakers": f"the speakers are set once; this transcript is {row.status}"})
    speakers = _mapping(row.speakers or [], roles)
    try:
        parsed = parse_lines(
            row.pending.splitlines(), "upload", speakers=speakers, fmt=row.file_format, warnings=[]
        )
    except TranscriptError as exc:
        raise _refuse(exc, "speakers") from None
    conn.execute(
        update(t.session_transcripts)
        .where(t.session_transcripts.c.id == transcript_id)
        .values(
            status="queued",
            progress=5,
            speakers=[
                {**s, "role": speakers.get(str(s["label"]), "none")} for s in row.speakers or []
            ],
            warnings=[f"line {w.line}: {w.message}" for w in parsed.warnings][:20],
        )
    )
    Access(conn, viewer).record("transcript.speakers", "session_transcript", transcript_id)
    return transcript_id


def _set(engine: Engine, transcript_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(t.session_transcripts)
            .where(t.session_transcripts.c.id == transcript_id)
            .values(**values)
        )


def run_coding(engine: Engine, transcript_id: int) -> None:
    """Code a queued transcript (run on a worker thread, never on the event loop).

    Progress is written as it goes; a failure is stored as a message without the words.
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(t.session_transcripts).where(t.session_transcripts.c.id == transcript_id)
        ).first()
    if row is None:
        return
    with engine.begin() as conn:
        # Only one worker takes a queued transcript, however many processes serve the app.
        taken = conn.execute(
            update(t.session_transcripts)
            .where(t.session_transcripts.c.id == transcript_id)
            .where(t.session_transcripts.c.status == "queued")
            .values(status="coding", progress=20)
        ).rowcount
    if taken != 1:
        return
    try:
        speakers: dict[str, Role] = {
            str(s["label"]): s["role"] for s in row.speakers or [] if s["role"] != "none"
        }
        parsed = parse_lines(
            row.pending.splitlines(), "upload", speakers=speakers, fmt=row.file_format, warnings=[]
        )
        _set(engine, transcript_id, progress=40)
        coded = code_utterances(parsed.utterances)
        _set(engine, transcript_id, progress=80)
        _store_result(engine, row, coded)
    except TranscriptError as exc:
        message = str(_refuse(exc).errors["file"])[:300]
        _set(engine, transcript_id, status="failed", error=message, pending=None)
    except Exception as exc:  # a bug: the page says so, the log names the error type only
        log.error("coding transcript %s failed: %s", transcript_id, type(exc).__name__)
        message = "coding failed; the error was logged"
        _set(engine, transcript_id, status="failed", error=message, pending=None)


def unfinished(engine: Engine) -> list[int]:
    """Transcripts left queued or half-coded when the app stopped, queued again to be coded."""
    if not inspect(engine).has_table("session_transcripts"):
        return []  # a database not yet migrated: `alliance serve` says so itself
    with engine.begin() as conn:
        conn.execute(
            update(t.session_transcripts)
            .where(t.session_transcripts.c.status == "coding")
            .values(status="queued", progress=5)
        )
        ids = conn.execute(
            select(t.session_transcripts.c.id)
            .where(t.session_transcripts.c.status == "queued")
            .order_by(t.session_transcripts.c.id)
        ).scalars()
        return [int(i) for i in ids]


def _codes(coded: Sequence[CodedUtterance]) -> list[dict[str, Any]]:
    """Each utterance's code without its words: what stays when the text is deleted."""
    return [
        {
            "line": c.line,
            "speaker": c.speaker,
            "code": c.code,
            "confidence": round(c.confidence, 4),
            "words": len(c.text.split()),
            "markers": [{"name": m.name, "confidence": round(m.confidence, 4)} for m in c.markers],
            "corrected": c.corrected,
        }
        for c in coded
    ]


def stored_profile(profile: SessionProfile) -> dict[str, Any]:
    """The profile as stored: counts, bands and marker lines, never the words said."""
    out = profile.as_dict()
    out["markers"] = [
        {"name": m.name, "line": m.line, "speaker": m.speaker, "confidence": m.confidence}
        for m in profile.markers
    ]
    return out


def _store_result(engine: Engine, row: Row[Any], coded: Sequence[CodedUtterance]) -> None:
    now = utc_now()
    with engine.begin() as conn:
        pid = conn.execute(
            insert(t.transcript_profiles).values(
                session_id=row.session_id,
                profile=stored_profile(session_profile(coded)),
                model_version=MODEL_VERSION,
                created_by=row.therapist_id,
                created_at=now,
            )
        ).inserted_primary_key
        assert pid is not None
        kept = [{"line": c.line, "text": c.text} for c in coded] if row.keep_text else None
        conn.execute(
            update(t.session_transcripts)
            .where(t.session_transcripts.c.id == row.id)
            .values(
                status="done",
                progress=100,
                profile_id=int(pid[0]),
                codes=_codes(coded),
                coded=kept,
                pending=None,
                speakers=None if not row.keep_text else row.speakers,
                finished_at=now,
            )
        )


def profile_from_codes(codes: Sequence[Mapping[str, Any]]) -> SessionProfile:
    """Recount a profile from stored codes (word counts included), as after a correction."""
    coded = [
        CodedUtterance(
            Utterance(int(c["line"]), c["speaker"], " ".join(["w"] * int(c.get("words", 0)))),
            str(c["code"]),
            float(c["confidence"]),
            "",
        )
        for c in codes
    ]
    base = session_profile(coded)
    markers = [
        MarkerHit(str(m["name"]), int(c["line"]), str(c["speaker"]), "", float(m["confidence"]))
        for c in codes
        for m in c.get("markers", [])
    ]
    advice = sum(1 for m in markers if m.name == "advice_without_permission")
    return SessionProfile(
        **{
            **base.__dict__,
            "markers": markers,
            "advice_without_permission": advice,
        }
    )


def correct(conn: Connection, viewer: Viewer, transcript_id: int, line: str, code: str) -> str:
    """Set the right code for one line; kept for retraining, and the profile recounted.

    Returns the code it replaced.
    """
    row = _row(conn, viewer, transcript_id, write=True)
    if row.status != "done":
        raise FormError({"code": f"only a coded transcript is corrected; this one is {row.status}"})
    codes = [dict(c) for c in row.codes or []]
    target = next((c for c in codes if str(c["line"]) == line.strip()), None)
    if target is None:
        raise FormError({"line": f"line {line[:12]!r} does not start a coded utterance"})
    try:
        validate_code(str(target["speaker"]), code)
    except CorrectionError as exc:
        raise FormError({"code": str(exc)}) from None
    was = str(target["code"])
    target.update(code=code, confidence=1.0, corrected=True)
    now = utc_now()
    conn.execute(
        update(t.session_transcripts)
        .where(t.session_transcripts.c.id == transcript_id)
        .values(codes=codes)
    )
    conn.execute(
        update(t.transcript_profiles)
        .where(t.transcript_profiles.c.id == row.profile_id)
        .values(profile=stored_profile(profile_from_codes(codes)))
    )
    conn.execute(
        insert(t.code_corrections).values(
            transcript_profile_id=row.profile_id,
            session_id=row.session_id,
            utterance_index=int(target["line"]),
            speaker=target["speaker"],
            original_code=was,
            corrected_code=code,
            corrected_by=viewer.user_id,
            at=now,
        )
    )
    Access(conn, viewer).record("transcript.correct", "session_transcript", transcript_id)
    return was


def set_shared(conn: Connection, viewer: Viewer, transcript_id: int, shared: str) -> bool:
    """Share a transcript's profile with the therapist's supervisor, or stop sharing it."""
    _row(conn, viewer, transcript_id, write=True)
    if shared not in ("yes", "no"):
        raise FormError({"shared": f"{shared[:12]!r} is not a choice; allowed: yes, no"})
    conn.execute(
        update(t.session_transcripts)
        .where(t.session_transcripts.c.id == transcript_id)
        .values(shared_at=utc_now() if shared == "yes" else None)
    )
    action = "transcript.share" if shared == "yes" else "transcript.unshare"
    Access(conn, viewer).record(action, "session_transcript", transcript_id)
    return shared == "yes"


def delete_text(conn: Connection, viewer: Viewer, transcript_id: int, confirm: str) -> bool:
    """Delete a transcript's words (the codes and profile stay); one not yet coded goes whole.

    Returns whether anything is left.
    """
    row = _row(conn, viewer, transcript_id, write=True)
    if confirm != "delete":
        raise FormError({"confirm": "tick the box to confirm that the text is to be deleted"})
    where = t.session_transcripts.c.id == transcript_id
    Access(conn, viewer).record("transcript.delete_text", "session_transcript", transcript_id)
    if row.status != "done":
        conn.execute(t.session_transcripts.delete().where(where))
        return False
    conn.execute(
        update(t.session_transcripts)
        .where(where)
        .values(coded=None, pending=None, speakers=None, keep_text=False, text_deleted_at=utc_now())
    )
    return True


def upload_and_map(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    *,
    text: str,
    fmt: str | None,
    speakers: Mapping[str, str],
    keep_text: bool,
) -> int:
    """The API's one step: read the text and map its names (known labels need none)."""
    try:
        tid = upload(
            conn,
            viewer,
            episode_id,
            session_id,
            filename="upload.txt",
            raw=text.encode("utf-8"),
            keep_text=keep_text,
            fmt=fmt,
        )
    except FormError as exc:
        raise FormError({"text": "; ".join(exc.errors.values())}) from None
    labels = _row(conn, viewer, tid, write=True).speakers or []
    roles: dict[str, str] = {}
    for k, label in enumerate(labels):
        role = speakers.get(str(label["label"])) or label["role"]
        if role is None:
            raise FormError(
                {
                    "speakers": f"the name on line {label['first_line']} is not mapped; give it "
                    "a role in speakers (therapist, client or none)"
                }
            )
        roles[f"speaker_{k}"] = str(role)
    try:
        return map_speakers(conn, viewer, tid, roles)
    except FormError as exc:
        raise FormError({"speakers": "; ".join(exc.errors.values())}) from None
