"""Property: any sequence of store operations leaves a consistent stage history in the database.

Each step is refused exactly when the stage rules say so (a small model beside the test keeps the
episode's stage, consent and goals), with the field and rule of that refusal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

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
# At least 20 steps: most moves to a random stage are refused, and a shorter run seldom gets
# through process to a step back, so half the runs would never try the rules for it.
ops = st.lists(
    st.tuples(
        st.sampled_from(["move", "move", "move", "consent", "goal"]),
        st.sampled_from(list(Stage)),
        st.booleans(),
    ),
    min_size=20,
    max_size=40,
)
# The stages in order, written out rather than read from Stage.
ORDER = ["commitment", "process", "change", "termination"]


@dataclass
class Model:
    """What the episode should be after the steps the store took, and the rule for the next."""

    stage: Stage = Stage.COMMITMENT
    consented: bool = False
    goals: int = 0

    def refusal(self, kind: str, target: Stage, with_reason: bool) -> tuple[str, str] | None:
        """The (field, rule) the store must refuse this step with, or None when it must do it."""
        if kind == "consent":
            if self.consented:
                return ("consent_on", f"consent is already recorded ({OPENED})")
            return None
        if kind == "goal":
            return None  # a goal with text on an open episode is always taken
        here, there = ORDER.index(self.stage.value), ORDER.index(target.value)
        if there == here:
            return ("stage", "the episode is already in that stage")
        if there > here + 1:
            return ("stage", "stages move forward one step at a time")
        if there < here and not with_reason:
            return ("stage", "a step back needs a reason")
        if target.value == "process" and not self.consented:
            return ("stage", "entering process needs recorded consent")
        if target.value == "process" and self.goals == 0:
            return ("stage", "entering process needs at least one agreed goal")
        return None

    def apply(self, kind: str, target: Stage, _with_reason: bool) -> None:
        if kind == "consent":
            self.consented = True
        elif kind == "goal":
            self.goals += 1
        else:
            self.stage = target


def take_step(engine: Engine, who: Actor, episode_id: int, now: datetime, op: Op) -> None:
    kind, stage, with_reason = op
    with engine.begin() as conn:
        if kind == "consent":
            record_consent(conn, who, episode_id, OPENED, now=now)
        elif kind == "goal":
            add_goal(conn, who, episode_id, f"goal at {now:%H:%M}", now=now)
        else:
            reason = "a reason" if with_reason else None
            move_stage(conn, who, episode_id, stage, reason=reason, now=now)


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
    model = Model()
    for step, op in enumerate(sequence):
        now = NOW + timedelta(minutes=step)
        expected = model.refusal(*op)
        if expected is None:
            take_step(engine, who, episode_id, now, op)
            model.apply(*op)
            continue
        # Only the refusal the rules call for; nothing written (the chain still holds below).
        with pytest.raises(DomainError) as refused:
            take_step(engine, who, episode_id, now, op)
        assert (refused.value.field, refused.value.rule) == expected, (step, op)
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
        assert check_history(history).value == current == model.stage.value
        assert audit.verify(conn) is None
    engine.dispose()
