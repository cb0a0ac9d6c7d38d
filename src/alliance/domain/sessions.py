"""Sessions of an episode: numbered in order, dated, with attendance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from alliance.domain.episode import Episode, check_since_opening, require_open
from alliance.domain.errors import Choice, DomainError


class Attendance(Choice, field="session.attendance"):
    ATTENDED = "attended"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


@dataclass(frozen=True)
class Session:
    number: int
    held_on: date
    attendance: Attendance


def check_next_session(
    episode: Episode, previous: Sequence[Session], number: int | None, held_on: date, now: datetime
) -> int:
    """Return the number the new session takes; refuse gaps, repeats and dates out of order.

    Numbers run 1, 2, 3 ... in the order sessions happen, so "session n" means the same thing in
    every chart and every expected-response curve.
    """
    require_open(episode, "session")
    expected = (max((s.number for s in previous), default=0)) + 1
    if number is None:
        number = expected
    if isinstance(number, bool) or not isinstance(number, int) or number != expected:
        raise DomainError(
            "session.number",
            number,
            f"sessions are numbered in order; the next is {expected}",
            detail=f"{number!r} is out of order",
        )
    check_since_opening("session.held_on", held_on, episode, now, opening="the episode opened")
    last = max(previous, key=lambda s: s.number, default=None)
    if last is not None and held_on < last.held_on:
        raise DomainError(
            "session.held_on",
            held_on.isoformat(),
            f"must not be before session {last.number} ({last.held_on})",
        )
    return number
