"""Property: any sequence of store operations leaves a consistent stage history in the database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alliance.domain import DomainError, Stage, StageTransition, check_history
from alliance.store import audit
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.episodes import move_stage, open_episode, record_consent
from alliance.store.goals import add_goal
from alliance.store.migrate import upgrade
from alliance.store.people import create_client, create_organisation, create_user
from alliance.store.tables import episodes, stage_transitions

from .conftest import NOW, OPENED

Op = tuple[str, Stage, bool]
ops = st.lists(
    st.tuples(
        st.sampled_from(["move", "move", "move", "consent", "goal"]),
        st.sampled_from(list(Stage)),
        st.booleans(),
    ),
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops)
def test_it_keeps_transitions_chained_and_the_stage_equal_to_the_last(
    tmp_path: Path, sequence: list[Op]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")
    upgrade(engine)
    system = Actor.system()
    with engine.begin() as conn:
        org = create_organisation(conn, system, "Clinic", now=NOW)
        therapist = create_user(
            conn,
            system,
            organisation_id=org,
            username="t1",
            role="therapist",
            display_name="T",
            now=NOW,
        )
        client = create_client(conn, system, organisation_id=org, now=NOW)
        episode_id = open_episode(
            conn,
            Actor(therapist),
            client_id=client,
            therapist_id=therapist,
            opened_on=OPENED,
            now=NOW,
        )
    who = Actor(therapist)
    for step, (kind, stage, with_reason) in enumerate(sequence):
        now = NOW + timedelta(minutes=step)
        try:
            with engine.begin() as conn:
                if kind == "consent":
                    record_consent(conn, who, episode_id, OPENED, now=now)
                elif kind == "goal":
                    add_goal(conn, who, episode_id, f"goal {step}", now=now)
                else:
                    reason = "a reason" if with_reason else None
                    move_stage(conn, who, episode_id, stage, reason=reason, now=now)
        except DomainError:
            continue  # refused: nothing written, checked below by the chain still holding
    with engine.connect() as conn:
        rows = (
            conn.execute(select(stage_transitions).order_by(stage_transitions.c.id))
            .mappings()
            .all()
        )
        history = [
            StageTransition(
                Stage(r["from_stage"]) if r["from_stage"] else None,
                Stage(r["to_stage"]),
                r["at"],
                r["by_user_id"],
                r["reason"],
            )
            for r in rows
        ]
        current = conn.execute(select(episodes.c.stage)).scalar_one()
        assert check_history(history).value == current
        assert audit.verify(conn) is None
    engine.dispose()
