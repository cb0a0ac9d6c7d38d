"""A realistic synthetic clinic for trying Alliance: `populate(engine, seed=0)`.

Everything is derived from the seed and a fixed anchor date, so two runs with one seed give the
same rows (the one-time passwords excepted: they are fresh on every run, and only their argon2id
hashes are stored). All writes go through the store operations, so the demo obeys every rule.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, select

from alliance.domain import BoundaryRationale, ClosingReason, DomainError, Stage
from alliance.domain.people import CODE_ALPHABET
from alliance.store import demo_data as data
from alliance.store.administrations import record_administration
from alliance.store.base import Actor, count_rows
from alliance.store.episodes import close_episode, move_stage, open_episode
from alliance.store.goals import add_task, set_goal_status, set_task_status
from alliance.store.migrate import upgrade
from alliance.store.people import create_client, create_organisation, create_user
from alliance.store.relational import (
    add_relational_note,
    record_boundary_event,
    report_boundary_incident,
)
from alliance.store.sessions import record_session
from alliance.store.tables import goals, organisations
from alliance.store.worksheets import add_worksheet

ANCHOR = date(2026, 3, 2)  # the demo's "today": every date is counted back from here
STAGE_SHARES = {"commitment": 0.15, "process": 0.35, "change": 0.25, "termination": 0.25}
SESSION_RANGE = {
    "commitment": (1, 3),
    "process": (4, 14),
    "change": (10, 24),
    "termination": (14, 30),
}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str


@dataclass
class _Case:
    index: int
    kind: str
    stage: str
    therapist: Actor
    dates: list[date]
    attendance: list[str]
    closed: bool = False
    dropout: bool = False
    consent: bool = True
    relapse: bool = False
    rupture_at: int = 0
    episode_id: int = 0
    session_ids: dict[int, int] = field(default_factory=dict)
    goal_ids: list[int] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)


@dataclass(order=True)
class _Step:
    at: datetime
    case: int
    seq: int
    run: Callable[[], object] = field(compare=False)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def populate(
    engine: Engine, seed: int = 0, on_progress: Progress | None = None
) -> list[DemoAccount]:
    """Migrate, then fill an empty database with the demo clinic; return the one-time logins."""
    upgrade(engine)
    rng = random.Random(seed)
    with engine.begin() as conn:
        if count_rows(conn, organisations):
            raise DomainError(
                "database", "not empty", "the demo needs an empty database", detail="it holds data"
            )
        accounts, therapists = _people(conn, rng)
        cases = _cases(rng, therapists)
        steps = sorted(s for case in cases for s in _plan(conn, rng, case))
        for done, step in enumerate(steps, start=1):
            step.run()
            if on_progress is not None:
                on_progress(done, len(steps))
    return accounts


def _people(conn: Connection, rng: random.Random) -> tuple[list[DemoAccount], list[Actor]]:
    system, start = Actor.system(), _at(ANCHOR - timedelta(days=400), 9)
    hasher = PasswordHasher()  # argon2id with the library's recommended parameters
    org = create_organisation(conn, system, "Riverside Counselling (demo)", now=start)
    accounts: list[DemoAccount] = []

    def account(username: str, display: str, role: str, supervisor: int | None = None) -> int:
        password = secrets.token_urlsafe(12)
        accounts.append(DemoAccount(username, role, password))
        return create_user(
            conn,
            system,
            organisation_id=org,
            username=username,
            role=role,
            display_name=display,
            password_hash=hasher.hash(password),
            supervisor_id=supervisor,
            must_change_password=True,
            now=start,
        )

    supervisor = account(*data.SUPERVISOR, "supervisor")
    account(*data.ADMIN, "admin")
    therapists = [Actor(account(u, d, "therapist", supervisor)) for u, d in data.THERAPISTS]
    codes: set[str] = set()
    while len(codes) < 60:
        codes.add("C-" + "".join(rng.choice(CODE_ALPHABET) for _ in range(6)))
    conn.info["demo_codes"] = sorted(codes)
    conn.info["demo_org"] = org
    return accounts, therapists


def _cases(rng: random.Random, therapists: list[Actor]) -> list[_Case]:
    n = rng.randint(28, 36)
    kinds = data.choose_archetypes(rng, n)
    pool = [s for s, share in STAGE_SHARES.items() for _ in range(max(1, round(share * n)))]
    rng.shuffle(pool)
    cases: list[_Case] = []
    for index, kind in enumerate(kinds):
        # Ruptures and the risk case need several sessions: keep them out of commitment.
        wanted = [
            s
            for s in pool
            if kind in ("improver", "non_responder", "deteriorator") or s != "commitment"
        ]
        stage = wanted[0] if wanted else "process"
        if stage in pool:
            pool.remove(stage)
        low, high = SESSION_RANGE[stage]
        sessions = rng.randint(low, high)
        closed = stage == "termination" and rng.random() < 0.6
        gaps = [rng.choice((7, 7, 7, 7, 7, 7, 14)) for _ in range(sessions - 1)]
        last = ANCHOR - timedelta(days=rng.randint(14, 150) if closed else rng.randint(0, 9))
        first = last - timedelta(days=sum(gaps))
        dates = [first + timedelta(days=sum(gaps[:i])) for i in range(sessions)]
        attendance = [
            "attended"
            if i in (0, sessions - 1) or (r := rng.random()) < 0.85
            else ("cancelled" if r < 0.93 else "no_show")
            for i in range(sessions)
        ]
        case = _Case(index, kind, stage, therapists[index % len(therapists)], dates, attendance)
        case.closed = closed
        case.rupture_at = max(3, sessions // 2) if kind.startswith("rupture") else 0
        cases.append(case)
    _special_cases(cases)
    return cases


def _special_cases(cases: list[_Case]) -> None:
    """One client without consent yet, one relapse (a step back), one drop-out."""
    for case in cases:
        if case.stage == "commitment":
            case.consent = False
            break
    for case in cases:
        if case.stage == "change" and len(case.dates) >= 14:
            case.relapse = True
            break
    dropouts = [c for c in cases if c.stage == "process" and len(c.dates) >= 6]
    dropouts.sort(key=lambda c: c.kind != "non_responder")
    for case in dropouts[:1]:
        case.dropout = case.closed = True
        case.attendance[-3:-1] = ["no_show", "no_show"]


def _plan(conn: Connection, rng: random.Random, case: _Case) -> list[_Step]:
    """The case's steps, each at the moment it happened; values drawn now, run later."""
    steps: list[_Step] = []

    def add(day: date, hour: int, minute: int, run: Callable[[], object]) -> None:
        steps.append(_Step(_at(day, hour, minute), case.index, len(steps), run))

    # The steps draw from `rng` in this order; reordering them changes the demo of a seed.
    marks = _stage_marks(rng, case)
    if case.rupture_at:
        for i in range(case.rupture_at, min(case.rupture_at + 3, len(case.dates) + 1)):
            case.attendance[i - 1] = "attended"
    agree = _opening_steps(conn, rng, case, add)
    for i, day in enumerate(case.dates, start=1):
        _session_steps(conn, rng, case, i, day, add)
        _goal_steps(conn, rng, case, i, day, add, agree=agree, marks=marks)
        _move_steps(conn, case, day, add, _moves(case, i, marks))
    _ending_steps(conn, rng, case, add)
    return steps


@dataclass(frozen=True)
class _Marks:
    """The session numbers at which the case moves to each stage (0: it never does)."""

    process: int
    change: int
    termination: int


def _stage_marks(rng: random.Random, case: _Case) -> _Marks:
    n = len(case.dates)
    order = list(Stage).index(Stage(case.stage))
    s_p = min(rng.choice((2, 3)), n) if order >= 1 else 0
    s_c = max(s_p + 2, round(n * 0.5)) if order >= 2 else 0
    s_t = max(s_c + 2, n - 2) if order >= 3 else 0
    return _Marks(s_p, s_c, s_t)


Add = Callable[[date, int, int, Callable[[], object]], None]


def _opening_steps(conn: Connection, rng: random.Random, case: _Case, add: Add) -> int:
    """Open the episode and fill in the Miracle Question; return how many goals were agreed."""
    who, first = case.therapist, case.dates[0]

    def open_case() -> None:
        client = create_client(
            conn,
            Actor.system(),
            organisation_id=conn.info["demo_org"],
            code=conn.info["demo_codes"][case.index],
            now=_at(first, 9),
        )
        case.episode_id = open_episode(
            conn,
            who,
            client_id=client,
            therapist_id=who.user_id or 0,
            opened_on=first,
            consent_on=first if case.consent else None,
            now=_at(first, 9),
        )

    add(first, 9, 0, open_case)
    answers = rng.sample(data.MIRACLE_ANSWERS, k=rng.choice((2, 3)))
    agree = 0 if not case.consent else rng.choice((1, 2))

    def miracle() -> None:
        sheet = add_worksheet(
            conn,
            who,
            case.episode_id,
            "miracle_question",
            {"answers": answers},
            now=_at(first, 9, 30),
        )
        case.goal_ids = list(
            conn.execute(
                select(goals.c.id).where(goals.c.worksheet_id == sheet).order_by(goals.c.id)
            ).scalars()
        )
        for goal in case.goal_ids[:agree]:
            set_goal_status(conn, who, goal, "agreed", now=_at(first, 9, 40))

    add(first, 9, 30, miracle)
    return agree


def _goal_steps(
    conn: Connection,
    rng: random.Random,
    case: _Case,
    i: int,
    day: date,
    add: Add,
    *,
    agree: int,
    marks: _Marks,
) -> None:
    """Tasks set at the second session, done on reaching change; a goal achieved at termination."""
    who = case.therapist
    if i == min(2, len(case.dates)) and agree:
        picks = rng.sample(data.TASKS, k=agree)

        def tasks() -> None:
            for goal, (text, kind) in zip(case.goal_ids, picks, strict=False):
                case.task_ids.append(
                    add_task(conn, who, goal, text, kind=kind, now=_at(day, 11, 5))
                )

        add(day, 11, 5, tasks)
    if i == marks.change:

        def tasks_done() -> None:
            for task in case.task_ids:
                set_task_status(conn, who, task, "done", now=_at(day, 11, 20))

        add(day, 11, 20, tasks_done)
    if i == marks.termination:

        def achieved() -> None:
            set_goal_status(conn, who, case.goal_ids[0], "achieved", now=_at(day, 11, 25))

        add(day, 11, 25, achieved)


def _moves(case: _Case, i: int, marks: _Marks) -> list[tuple[str, str | None]]:
    """The stage moves at session `i`, each with its reason (None: the usual forward step)."""
    moves: list[tuple[str, str | None]] = []
    if i == marks.process:
        moves.append(("process", None))
    if i == marks.change:
        moves.append(("change", None))
    if case.relapse and i == marks.change + 2:
        moves.append(("process", "Relapse after losing a job; back to working on triggers"))
    if case.relapse and i == marks.change + 4:
        moves.append(("change", None))
    if i == marks.termination:
        moves.append(("termination", None))
    return moves


def _move_steps(
    conn: Connection, case: _Case, day: date, add: Add, moves: list[tuple[str, str | None]]
) -> None:
    for k, (stage, reason) in enumerate(moves):

        def move(stage: str = stage, reason: str | None = reason, k: int = k) -> None:
            move_stage(
                conn,
                case.therapist,
                case.episode_id,
                stage,
                reason=reason,
                now=_at(day, 11, 30 + k),
            )

        add(day, 11, 30 + k, move)


def _session_steps(
    conn: Connection, rng: random.Random, case: _Case, i: int, day: date, add: Add
) -> None:
    who, n = case.therapist, len(case.dates)
    attendance = case.attendance[i - 1]

    def session() -> None:
        case.session_ids[i] = record_session(
            conn, who, case.episode_id, day, attendance=attendance, number=i, now=_at(day, 10)
        )

    add(day, 10, 0, session)
    if attendance != "attended":
        return
    expected = data.targets(case.kind, i, n, case.rupture_at)
    forms: list[tuple[str, dict[str, float] | dict[str, int], int]] = [
        ("ors", data.vas_answers(rng, expected["ors"] + rng.gauss(0, 1.2)), 5),
    ]
    if i == 1 or i % 2 == 1 or i == n:
        risk = (2 if i == n else 1) if case.kind == "risk" and i >= n - 2 else 0
        phq = expected["phq9"] + rng.gauss(0, 1.3)
        forms.append(("phq9", data.ordinal_answers(rng, phq, 9, risk_item="9", risk=risk), 6))
        gad = expected["gad7"] + rng.gauss(0, 1.1)
        forms.append(("gad7", data.ordinal_answers(rng, gad, 7), 7))
    srs = min(40.0, expected["srs"] + rng.gauss(0, 0.6))
    forms.append(("srs", data.vas_answers(rng, srs), 50))
    source = rng.choice(("link", "link", "link", "tablet", "paper"))
    for instrument, answers, minute in forms:

        def administer(
            instrument: str = instrument,
            answers: dict[str, float] | dict[str, int] = answers,
            minute: int = minute,
        ) -> None:
            record_administration(
                conn,
                who,
                case.episode_id,
                instrument,
                answers,
                session_id=case.session_ids[i],
                source=source,
                now=_at(day, 10, minute),
            )

        add(day, 10, minute, administer)
    _relational_steps(conn, rng, case, i, day, add)


def _relational_steps(
    conn: Connection, rng: random.Random, case: _Case, i: int, day: date, add: Add
) -> None:
    """The boundary events and relational notes of session `i` (boundaries draw first)."""
    _boundary_steps(conn, rng, case, i, day, add)
    _note_steps(conn, rng, case, i, day, add)


# Long by design: synthetic demo content (one demo case's boundary events), data more than logic.
def _boundary_steps(
    conn: Connection, rng: random.Random, case: _Case, i: int, day: date, add: Add
) -> None:
    who = case.therapist
    quota: dict[str, int] = conn.info.setdefault("demo_quota", {"crossing": 2, "incident": 1})

    def boundary(kind: str, text: str, rationale: BoundaryRationale | None = None) -> None:
        add(
            day,
            11,
            10,
            lambda: record_boundary_event(
                conn,
                who,
                case.episode_id,
                kind,
                text,
                occurred_on=day,
                rationale=rationale,
                session_id=case.session_ids[i],
                now=_at(day, 11, 10),
            ),
        )

    if i == 1:
        if rng.random() < 0.6:
            boundary("rule", rng.choice(data.RULES))
        elif rng.random() < 0.5:
            boundary("ritual", rng.choice(data.RITUALS))
    if i == 3 and rng.random() < 0.2:
        boundary(
            "self_disclosure",
            data.DISCLOSURES[0],
            BoundaryRationale(client_welfare="Normalise exam stress; client felt alone with it"),
        )
    if i == 5 and case.kind == "improver" and quota["crossing"] > 0:
        quota["crossing"] -= 1
        boundary(
            "crossing",
            "Exposure walk to the bus stop outside the office",
            BoundaryRationale(
                client_welfare="Client cannot yet travel alone; avoids the bus entirely",
                technique_goal="In-vivo graded exposure, step 3 of the ladder",
                plan_link="Goal: take the bus to work without panicking",
            ),
        )
    if i == 4 and case.stage in ("process", "change") and quota["incident"] > 0:
        quota["incident"] -= 1
        add(
            day,
            11,
            12,
            lambda: report_boundary_incident(
                conn,
                who,
                case.episode_id,
                "Client asked to meet socially outside sessions; declined, raised for supervision",
                occurred_on=day,
                now=_at(day, 11, 12),
            ),
        )


def _note_steps(
    conn: Connection, rng: random.Random, case: _Case, i: int, day: date, add: Add
) -> None:
    def note(kind: str, tags: list[str]) -> None:
        add(
            day,
            11,
            15,
            lambda: add_relational_note(
                conn,
                case.therapist,
                case.episode_id,
                kind,
                data.NOTES[kind],
                tags=tags,
                session_id=case.session_ids[i],
                now=_at(day, 11, 15),
            ),
        )

    if case.rupture_at and i == case.rupture_at:
        note("rupture", [rng.choice(("withdrawal", "confrontation")), "homework"])
    elif case.kind == "rupture_repaired" and i == case.rupture_at + 1:
        note("repair", ["repair", "task-change"])
    elif 2 <= i < len(case.dates) and rng.random() < 0.06:
        note(rng.choice(("transference", "countertransference")), ["pattern"])


def _ending_steps(conn: Connection, rng: random.Random, case: _Case, add: Add) -> None:
    who, last = case.therapist, case.dates[-1]
    quota: dict[str, int] = conn.info.setdefault("demo_no_plan", {"left": 1})
    if case.stage == "termination":
        if case.closed and quota["left"] > 0:
            quota["left"] -= 1  # one closing without a plan, to show the warning
        elif case.closed or rng.random() < 0.7:
            add(
                last,
                14,
                0,
                lambda: add_worksheet(
                    conn, who, case.episode_id, "relapse_prevention", data.PLAN, now=_at(last, 14)
                ),
            )
    if case.closed:
        summary = (
            "Stopped attending after two missed sessions; letter sent offering a return"
            if case.dropout
            else "Goals reached; relapse-prevention plan agreed; final measures taken"
        )
        add(
            last,
            17,
            0,
            lambda: close_episode(
                conn,
                who,
                case.episode_id,
                last,
                reason=ClosingReason.DROPOUT if case.dropout else ClosingReason.PLANNED,
                summary=summary,
                now=_at(last, 17),
            ),
        )
