"""Bring outside data into the store: score CSVs (all or nothing) and fitted ETR models.

A CSV is validated row by row first (alliance.analytics.csv_scores); if any row is refused
nothing is written. Accepted rows are written in one transaction through the store operations
(clients, episodes, sessions, administrations, audit), so a failure on any row rolls back all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select

from alliance.analytics.csv_scores import CsvScores, RejectedRow, ScoreRow
from alliance.analytics.etr import EtrModel
from alliance.domain import ClosingReason, DomainError, Role
from alliance.errors import AllianceError
from alliance.instruments import InstrumentError
from alliance.store import audit
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.episodes import close_episode, open_episode
from alliance.store.people import create_client, user_by_username
from alliance.store.sessions import record_session
from alliance.store.tables import administrations, etr_models, organisations


class ImportRejectedError(AllianceError, ValueError):
    """The file had refused rows; nothing was written. `rejected` lists them."""

    def __init__(self, rejected: list[RejectedRow]) -> None:
        self.rejected = rejected
        super().__init__(f"{len(rejected)} row problem(s); nothing was imported")


@dataclass(frozen=True)
class ImportSummary:
    clients: int
    episodes: int
    sessions: int
    administrations: int


def import_scores(
    engine: Engine,
    scores: CsvScores,
    *,
    default_therapist: str | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Write every accepted row, or nothing: raises ImportRejectedError listing each refused row."""
    if scores.rejected:
        raise ImportRejectedError(scores.rejected)
    actor = actor or Actor.system()
    now = now or datetime.now(UTC)
    problems: list[RejectedRow] = []
    episodes: dict[tuple[str, str], list[ScoreRow]] = defaultdict(list)
    for row in scores.rows:
        episodes[(row.client, row.episode)].append(row)
    counts = {"clients": 0, "episodes": 0, "sessions": 0, "administrations": 0}
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            organisation = conn.execute(select(organisations.c.id).limit(1)).scalar()
            if organisation is None:
                problems.append(
                    RejectedRow(1, "(database)", "no organisation yet; run `alliance init`")
                )
            else:
                client_ids: dict[str, int] = {}
                for (client, _label), rows in sorted(episodes.items()):
                    _write_episode(
                        conn,
                        actor,
                        organisation,
                        client,
                        rows,
                        client_ids,
                        default_therapist,
                        problems,
                        counts,
                        now,
                    )
            if problems:
                transaction.rollback()
                raise ImportRejectedError(sorted(problems, key=lambda p: (p.line, p.field)))
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    return ImportSummary(**counts)


# Long by design: one imported episode is written in one transaction step by step (client,
# episode, sessions, scores), each refusal recorded against its CSV line.
def _write_episode(
    conn: Connection,
    actor: Actor,
    organisation: int,
    client: str,
    rows: list[ScoreRow],
    client_ids: dict[str, int],
    default_therapist: str | None,
    problems: list[RejectedRow],
    counts: dict[str, int],
    now: datetime,
) -> None:
    rows = sorted(rows, key=lambda r: (r.session, r.line))
    first = rows[0]
    for row in rows:
        if row.date is None:
            problems.append(RejectedRow(row.line, "date", "required to import into the store"))
    if any(r.date is None for r in rows):
        return
    username = next((r.therapist for r in rows if r.therapist), None) or default_therapist
    therapist = user_by_username(conn, username) if username else None
    if therapist is None or Role(therapist["role"]) != Role.THERAPIST:
        problems.append(
            RejectedRow(
                first.line,
                "therapist",
                "no therapist account with this user name; allowed: an existing therapist's "
                "user name (column therapist or --therapist)",
            )
        )
        return
    try:
        if client not in client_ids:
            client_ids[client] = create_client(
                conn, actor, organisation_id=organisation, code=client, now=now
            )
            counts["clients"] += 1
        assert first.date is not None
        episode_id = open_episode(
            conn,
            actor,
            client_id=client_ids[client],
            therapist_id=int(therapist["id"]),
            opened_on=first.date,
            now=now,
        )
        counts["episodes"] += 1
    except DomainError as error:
        problems.append(RejectedRow(first.line, "client", str(error)))
        return
    session_ids: dict[int, int] = {}
    for row in rows:
        try:
            if row.session not in session_ids:
                assert row.date is not None
                session_ids[row.session] = record_session(
                    conn, actor, episode_id, row.date, number=row.session, now=now
                )
                counts["sessions"] += 1
            _write_administration(conn, actor, episode_id, session_ids[row.session], row, now)
            counts["administrations"] += 1
        except (DomainError, InstrumentError) as error:
            problems.append(RejectedRow(row.line, "session", str(error)))
            return
    if any(r.status in ("closed", "dropout") for r in rows):
        last = rows[-1].date
        # The CSV says drop-out through its status column; a plain "closed" does not say why.
        dropped_out = any(r.status == "dropout" for r in rows)
        reason = ClosingReason.DROPOUT if dropped_out else ClosingReason.OTHER
        try:
            close_episode(conn, actor, episode_id, last, reason=reason, now=now)
        except DomainError as error:
            problems.append(RejectedRow(rows[-1].line, "status", str(error)))


def _write_administration(
    conn: Connection, actor: Actor, episode_id: int, session_id: int, row: ScoreRow, now: datetime
) -> None:
    if row.answers:
        record_administration(
            conn,
            actor,
            episode_id,
            row.instrument,
            {k: v for k, v in row.answers.items() if v is not None},
            session_id=session_id,
            source="import",
            now=now,
        )
        return
    # A total without item answers (what many tools export): stored as given; the empty answers
    # mark it as a total-only record (validity is one of the schema's values).
    admin_id = conn.execute(
        insert(administrations)
        .values(
            episode_id=episode_id,
            session_id=session_id,
            instrument_id=row.instrument,
            answers={},
            total=row.total,
            subscales={},
            band=None,
            flags=[],
            validity="complete",
            source="import",
            entered_by=actor.user_id,
            created_at=now,
        )
        .returning(administrations.c.id)
    ).scalar_one()
    audit.record(conn, actor, "create", "administration", admin_id, now=now)


def save_etr_models(
    engine: Engine,
    models: Mapping[str, EtrModel],
    *,
    organisation_id: int | None = None,
    actor: Actor | None = None,
) -> int:
    """Store fitted models (one row each, newest wins when read back); returns how many."""
    actor = actor or Actor.system()
    with engine.begin() as conn:
        for instrument in sorted(models):
            model = models[instrument]
            model_id = conn.execute(
                insert(etr_models)
                .values(
                    organisation_id=organisation_id,
                    instrument_id=instrument,
                    fitted_at=datetime.fromisoformat(model.fitted_at),
                    n_episodes=model.n_episodes,
                    params=model.to_dict(),
                )
                .returning(etr_models.c.id)
            ).scalar_one()
            audit.record(conn, actor, "create", "etr_model", model_id)
    return len(models)
