"""When a measure is given: a session rule, parsed once, that says which sessions are due.

A rule is the sessions part and, optionally, the timing:

    every              every session
    every:N            every Nth session: N, 2N, 3N ... ("every 4th" is sessions 4, 8, 12;
                       the Nth session is the first to be due, as the words say; for 1, 5, 9
                       write the list)
    first              session 1 only
    last               the closing session: never due when a session is recorded, given by hand
    1,4,8,12           those session numbers
    never              not given (an episode's way to switch off a clinic rule)

followed by `before` or `after` the session. Without a timing an alliance measure is given
after the session and an outcome or goals measure before it: the ORS is given at the start of
a session and the SRS at its end (Miller, Duncan et al. 2003; Duncan et al. 2003), and
symptom measures such as the PHQ-9 and GAD-7 ask about the time before the session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from alliance.domain import DomainError

Timing = Literal["before", "after"]
Kind = Literal["every", "nth", "at", "first", "last", "never"]
TIMINGS: tuple[Timing, ...] = ("before", "after")
MAX_SESSION = 999
ALLOWED = (
    "every, every:N (every Nth session), first, last, a list such as 1,4,8 or never, "
    "then optionally before or after"
)

_NTH = re.compile(r"^every(?::|)([0-9]{1,3})(?:st|nd|rd|th)?$")
_LIST = re.compile(r"^[0-9]{1,3}(?:,[0-9]{1,3})*$")


@dataclass(frozen=True)
class SessionRule:
    """A parsed rule; `text` is its one normal spelling, as stored."""

    kind: Kind
    every_n: int = 1
    sessions: frozenset[int] = frozenset()
    timing: Timing | None = None

    def due(self, number: int) -> bool:
        """Whether session `number` (1-based) is due under this rule when it is recorded."""
        if self.kind == "every":
            return True
        if self.kind == "nth":
            return number % self.every_n == 0
        if self.kind == "first":
            return number == 1
        if self.kind == "at":
            return number in self.sessions
        return False  # last: given by hand at the closing session; never: not given

    def timing_for(self, instrument_kind: str) -> Timing:
        if self.timing is not None:
            return self.timing
        return "after" if instrument_kind == "alliance" else "before"

    @property
    def text(self) -> str:
        sessions = {
            "nth": f"every:{self.every_n}",
            "at": ",".join(str(n) for n in sorted(self.sessions)),
        }.get(self.kind, self.kind)
        return sessions if self.timing is None else f"{sessions} {self.timing}"


def _refuse(raw: str, detail: str) -> DomainError:
    return DomainError("session_rule", raw[:40], ALLOWED, detail=f"{raw[:40]!r} {detail}")


def _sessions(raw: str, words: str) -> SessionRule:
    if words in ("every", "first", "last", "never"):
        return SessionRule(kind=words)  # type: ignore[arg-type]
    nth = _NTH.match(words)
    if nth:
        n = int(nth.group(1))
        if n < 1:
            raise _refuse(raw, "asks for every 0th session")
        return SessionRule(kind="every") if n == 1 else SessionRule(kind="nth", every_n=n)
    if _LIST.match(words):
        numbers = frozenset(int(n) for n in words.split(","))
        if 0 in numbers:
            raise _refuse(raw, "names session 0; sessions are numbered from 1")
        return SessionRule(kind="at", sessions=numbers)
    raise _refuse(raw, "is not a rule")


def parse_rule(raw: str) -> SessionRule:
    """Parse a rule such as "every:4 before"; DomainError naming `session_rule` if it is not one."""
    words = raw.strip().lower().split()
    if not words:
        raise _refuse(raw, "is empty")
    timing: Timing | None = None
    if words[-1] in TIMINGS:
        timing = words.pop()  # type: ignore[assignment]
    # "every 4th", "every 4" and "1, 4, 8" are the same rules as "every:4" and "1,4,8".
    joined = "".join(words) if words and words[0][:1].isdigit() else ":".join(words)
    if not joined:
        raise _refuse(raw, "has a timing but no sessions")
    rule = _sessions(raw, joined)
    return SessionRule(rule.kind, rule.every_n, rule.sessions, timing)
