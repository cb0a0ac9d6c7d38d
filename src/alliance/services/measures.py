"""Filled forms: parse answers from a form, score them, store the administration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sqlalchemy import Connection

from alliance.domain import DomainError
from alliance.errors import FormError
from alliance.instruments import Instrument, InstrumentError, load_instrument, score
from alliance.instruments.scoring import check_answer
from alliance.services import risk
from alliance.store.access import Access, Viewer
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.sessions import session_number

Source = Literal["link", "tablet", "paper", "import"]


def known_instrument(instrument_id: str) -> Instrument:
    try:
        return load_instrument(instrument_id)
    except (InstrumentError, KeyError, FileNotFoundError, ValueError):
        raise FormError({"instrument": f"{instrument_id[:40]!r} is not a known measure"}) from None


def parse_answers(instrument: Instrument, form: Mapping[str, str]) -> dict[str, float]:
    """Answers keyed '1'..'n' from fields item_1..item_n.

    A blank item is asked for again, unless the form can be kept as it is: the instrument's own
    rule pro-rates it (PHQ-9 with one or two missing, NHS Data Dictionary), or a risk item is
    endorsed, in which case the form is kept (unscored if it must be) so the risk is never lost.
    A blank risk item itself is always asked for.
    """
    answers: dict[str, float] = {}
    errors: dict[str, str] = {}
    missing: dict[str, str] = {}
    for item in instrument.items:
        raw = (form.get(f"item_{item.id}") or "").strip()
        scale = instrument.scale_of(item)
        if not raw:
            if not instrument.scoring.missing_means_unused:
                missing[item.id] = f"item {item.id} ({item.label}) needs an answer"
            continue
        try:
            value = float(raw)
        except ValueError:
            errors[item.id] = f"item {item.id}: {raw[:12]!r} is not a number; {scale.allowed()}"
            continue
        try:
            check_answer(instrument, item.id, value)
        except InstrumentError as exc:
            errors[item.id] = str(exc)
            continue
        answers[item.id] = value
    if errors:
        raise FormError(errors | missing)
    # A blank risk item is always asked for again: pro-rating must not stand in for it.
    risk_blank = any(r.item in missing for r in instrument.risk_items)
    if missing and (risk_blank or not _keepable(instrument, answers)):
        raise FormError(missing)
    return answers


def _keepable(instrument: Instrument, answers: Mapping[str, float]) -> bool:
    """An incomplete form worth keeping: pro-rated by its own rule, or a risk item endorsed."""
    try:
        result = score(instrument, dict(answers))
    except InstrumentError:
        return False
    return result.validity != "invalid" or any(f.startswith("risk:") for f in result.flags)


def store_administration(
    conn: Connection,
    *,
    episode_id: int,
    session_id: int | None,
    instrument: Instrument,
    answers: Mapping[str, float],
    source: Source,
    entered_by: int | None,
    ip: str | None,
) -> int:
    """Score and store one administration (audited); refuses an unscorable one without risk."""
    try:
        result = score(instrument, dict(answers))
    except InstrumentError as exc:
        raise FormError({"answers": str(exc)}) from None
    at_risk = any(flag.startswith("risk:") for flag in result.flags)
    if result.validity == "invalid" and not at_risk:
        raise FormError({"answers": result.reason or "too many items are missing to score"})
    # An unscorable form with a risk item endorsed is kept as invalid: it raises the risk alert.
    try:
        admin_id, _ = record_administration(
            conn,
            Actor(entered_by, ip),
            episode_id,
            instrument.id,
            dict(answers),
            session_id=session_id,
            source=source,
            scored=result,
        )
    except (DomainError, InstrumentError) as exc:
        raise FormError({"answers": str(exc)}) from None
    if at_risk and source in ("link", "tablet"):
        # The client answered alone: the therapist hears of it at once (banner and email, and the
        # duty contact by email). A form the therapist types in raises the risk card only.
        risk.risk_endorsed(conn, admin_id)
    return admin_id


def session_of(conn: Connection, episode_id: int, session_id: int) -> int:
    if session_number(conn, episode_id, session_id) is None:
        raise FormError({"session_id": f"session {session_id} is not a session of this episode"})
    return session_id


def enter_paper_scores(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    instrument_id: str,
    form: Mapping[str, str],
) -> int:
    """A therapist types in a paper form's answers for a session."""
    Access(conn, viewer).episode(episode_id, write=True)
    session_of(conn, episode_id, session_id)
    instrument = known_instrument(instrument_id)
    answers = parse_answers(instrument, form)
    return store_administration(
        conn,
        episode_id=episode_id,
        session_id=session_id,
        instrument=instrument,
        answers=answers,
        source="paper",
        entered_by=viewer.user_id,
        ip=viewer.ip,
    )
