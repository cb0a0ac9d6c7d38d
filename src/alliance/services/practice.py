"""Clients and episodes from an empty caseload: add a client, open, close, find and reopen.

A client is a pseudonymous code; a name, e-mail and phone are optional and kept in the identity
table apart from clinical data. Who sees a client: whoever added them, and whoever may read one
of their episodes (alliance.store.access).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, or_, select

from alliance.domain import ClosingReason
from alliance.errors import FormError, NotVisibleError
from alliance.services.clinical import parse_date, refused_as_form_errors
from alliance.store import episodes as store_episodes
from alliance.store import goals as store_goals
from alliance.store import people as store_people
from alliance.store import tables as t
from alliance.store.access import Access, Viewer, visible_therapists
from alliance.store.base import utc_now

GOALS_AT_OPENING = 5


@dataclass(frozen=True)
class NewClient:
    id: int
    code: str


@dataclass(frozen=True)
class EpisodeSummary:
    id: int
    client_code: str
    therapist: str
    opened_on: date
    closed_on: date | None
    closing_reason: str | None
    previous_episode_id: int | None


@dataclass(frozen=True)
class ClientDetail:
    id: int
    code: str
    name: str | None
    email: str | None
    phone: str | None
    episodes: list[EpisodeSummary] = field(default_factory=list)

    @property
    def open_episode(self) -> EpisodeSummary | None:
        return next((e for e in self.episodes if e.closed_on is None), None)


@dataclass(frozen=True)
class Reopening:
    reopened_at: datetime
    by: str | None
    reason: str
    closed_on: date
    closing_reason: str | None


def _require_clinician(viewer: Viewer) -> None:
    # Admins manage accounts; clients and their episodes are clinical work.
    if viewer.role not in ("therapist", "supervisor"):
        raise NotVisibleError("client")


def _visible_clients(viewer: Viewer) -> ColumnElement[bool]:
    """Clients this viewer added, or who have an episode this viewer may read."""
    therapists = visible_therapists(viewer.role, viewer.user_id).scalar_subquery()
    with_episode = select(t.episodes.c.client_id).where(t.episodes.c.therapist_id.in_(therapists))
    return or_(
        t.clients.c.created_by == viewer.user_id,
        t.clients.c.created_by.in_(therapists),
        t.clients.c.id.in_(with_episode.scalar_subquery()),
    )


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def add_client(
    conn: Connection,
    viewer: Viewer,
    *,
    display_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> NewClient:
    """A new client with a generated code; identity, if any, kept apart from clinical data."""
    _require_clinician(viewer)
    assert viewer.organisation_id is not None
    with _as_form_fields({"name": "display_name"}):
        client_id = store_people.create_client(
            conn,
            viewer.actor,
            organisation_id=viewer.organisation_id,
            name=_optional(display_name),
            email=_optional(email),
            phone=_optional(phone),
        )
    code = conn.execute(select(t.clients.c.code).where(t.clients.c.id == client_id)).scalar_one()
    return NewClient(client_id, str(code))


def _episodes_of(
    conn: Connection, viewer: Viewer, where: ColumnElement[bool]
) -> list[EpisodeSummary]:
    e, c, u = t.episodes, t.clients, t.users
    rows = conn.execute(
        Access(conn, viewer)
        .listing(
            e.c.id,
            c.c.code,
            u.c.display_name,
            e.c.opened_on,
            e.c.closed_on,
            e.c.closing_reason,
            e.c.previous_episode_id,
        )
        .where(where)
        .order_by(e.c.closed_on.desc().nulls_first(), e.c.id.desc())
    ).all()
    return [EpisodeSummary(*row) for row in rows]


def client_detail(conn: Connection, viewer: Viewer, client_id: int) -> ClientDetail:
    """The client's code, identity and episodes; reading the identity is audited."""
    _require_clinician(viewer)
    row = conn.execute(
        select(t.clients.c.id, t.clients.c.code).where(
            t.clients.c.id == client_id, _visible_clients(viewer)
        )
    ).first()
    if row is None:
        raise NotVisibleError("client")
    identity = conn.execute(
        select(t.client_identities).where(t.client_identities.c.client_id == client_id)
    ).first()
    Access(conn, viewer).record("read", "client_identity", client_id)
    return ClientDetail(
        id=row.id,
        code=row.code,
        name=identity.name if identity else None,
        email=identity.email if identity else None,
        phone=identity.phone if identity else None,
        episodes=_episodes_of(conn, viewer, t.episodes.c.client_id == client_id),
    )


def _therapist_id(conn: Connection, viewer: Viewer, username: str | None) -> int:
    """The treating therapist: the caller, or the caller named by username."""
    if not username or not username.strip():
        if viewer.role != "therapist":
            raise FormError({"therapist": "Name the treating therapist (a username)."})
        return viewer.user_id
    found = conn.execute(
        select(t.users.c.id, t.users.c.role).where(
            t.users.c.username == username.strip().lower(),
            t.users.c.organisation_id == viewer.organisation_id,
            t.users.c.active.is_(True),
        )
    ).first()
    if found is None or found.role != "therapist":
        raise FormError(
            {"therapist": f"No active therapist is called {username.strip()[:40]!r} here."}
        )
    if found.id != viewer.user_id:
        raise FormError({"therapist": "A therapist opens episodes on their own caseload only."})
    return int(found.id)


def open_episode(
    conn: Connection,
    viewer: Viewer,
    client_id: int,
    *,
    consent_date: str | None,
    therapist: str | None = None,
    goals: list[str] | None = None,
) -> int:
    """Open an episode today with the client's consent date and, optionally, first goals.

    A returning client's new episode is linked to their last one.
    """
    _require_clinician(viewer)
    client_detail(conn, viewer, client_id)  # visible, or NotVisibleError
    consent = parse_date("consent_date", consent_date)
    therapist_id = _therapist_id(conn, viewer, therapist)
    texts = [g.strip() for g in goals or [] if g.strip()]
    if len(texts) > GOALS_AT_OPENING:
        raise FormError({"goals": f"At most {GOALS_AT_OPENING} goals at opening; add more later."})
    now = utc_now()
    with _as_form_fields({"consent_on": "consent_date", "therapist_id": "therapist"}):
        episode_id = store_episodes.open_episode(
            conn,
            viewer.actor,
            client_id=client_id,
            therapist_id=therapist_id,
            opened_on=now.date(),
            consent_on=consent,
            now=now,
        )
        for text in texts:
            store_goals.add_goal(conn, viewer.actor, episode_id, text, status="agreed", now=now)
    return episode_id


@contextmanager
def _as_form_fields(renamed: dict[str, str]) -> Iterator[None]:
    """A refused rule as a form error, on the form's own name for the field."""
    try:
        with refused_as_form_errors():
            yield
    except FormError as exc:
        raise FormError({renamed.get(k, k): v for k, v in exc.errors.items()}) from None


def reopen_episode(
    conn: Connection, viewer: Viewer, episode_id: int, reason: str, *, within_days: int
) -> None:
    """Reopen a closed episode within the clinic's period, with a reason (audited)."""
    Access(conn, viewer).episode(episode_id, write=True)
    # The period, the open-episode rule and the reason all answer the one question asked.
    with _as_form_fields({"reopen_reason": "reason", "closed_on": "reason", "client_id": "reason"}):
        store_episodes.reopen_episode(
            conn, viewer.actor, episode_id, reason, within_days=within_days
        )


def reopenings(conn: Connection, viewer: Viewer, episode_id: int) -> list[Reopening]:
    Access(conn, viewer).episode(episode_id)
    r, u = t.episode_reopenings, t.users
    rows = conn.execute(
        select(r, u.c.display_name)
        .outerjoin(u, u.c.id == r.c.reopened_by)
        .where(r.c.episode_id == episode_id)
        .order_by(r.c.id)
    ).mappings()
    return [
        Reopening(
            row["reopened_at"],
            row["display_name"],
            row["reason"],
            row["closed_on"],
            row["closing_reason"],
        )
        for row in rows
    ]


def closed_episodes(
    conn: Connection,
    viewer: Viewer,
    *,
    code: str | None = None,
    therapist_id: int | None = None,
    reason: str | None = None,
) -> list[EpisodeSummary]:
    """Closed episodes this viewer may read, newest closing first; filters are optional."""
    e = t.episodes
    where: ColumnElement[bool] = e.c.closed_on.is_not(None)
    if code and code.strip():
        needle = code.strip().upper().replace("%", "").replace("_", "")
        where = where & t.clients.c.code.contains(needle)
    if therapist_id is not None:
        where = where & (e.c.therapist_id == therapist_id)
    if reason:
        try:
            where = where & (e.c.closing_reason == ClosingReason(reason).value)
        except ValueError:
            allowed = ", ".join(r.value for r in ClosingReason)
            raise FormError({"reason": f"Choose one of {allowed}."}) from None
    found = _episodes_of(conn, viewer, where)
    Access(conn, viewer).record("read", "closed_episodes", None)
    return found


def open_episodes(conn: Connection, viewer: Viewer) -> list[EpisodeSummary]:
    return _episodes_of(conn, viewer, t.episodes.c.closed_on.is_(None))


def therapist_names(conn: Connection, therapist_ids: list[int]) -> list[tuple[int, str]]:
    """(id, display name) of these therapists, by name, for a filter."""
    u = t.users
    rows = conn.execute(
        select(u.c.id, u.c.display_name).where(u.c.id.in_(therapist_ids)).order_by(u.c.display_name)
    ).all()
    return [(int(r.id), str(r.display_name)) for r in rows]
