"""Tamper evidence: a clinical row edited behind the program's back, or the newest events deleted.

The audit chain once covered the log only: an administration's total or a note changed in the
database file went unseen, and so did deleting the newest events (the shorter chain still checks
out). Each is replayed here against `alliance audit verify`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, func, select, update

from alliance.cli import main
from alliance.store import audit, relational
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from tests.web.clinic import Clinic, build_clinic


@pytest.fixture
def clinic_db(database_url: str) -> Iterator[tuple[str, Engine, Clinic]]:
    url = database_url
    engine = make_engine(url)
    clinic = build_clinic(engine)
    with engine.begin() as conn:
        relational.add_relational_note(
            conn, Actor.system(), clinic.rupture_episode, "rupture", "Withdrew after the break"
        )
    yield url, engine, clinic
    engine.dispose()


def verify(url: str, *extra: str) -> tuple[int, str]:
    done = CliRunner().invoke(main, ["audit", "verify", "--db", url, *extra])
    return done.exit_code, done.output


def test_it_detects_an_edited_total(clinic_db: tuple[str, Engine, Clinic]) -> None:
    url, engine, clinic = clinic_db
    code, output = verify(url)
    assert code == 0, output
    with engine.begin() as conn:
        first = conn.execute(
            select(func.min(t.administrations.c.id)).where(
                t.administrations.c.episode_id == clinic.rupture_episode
            )
        ).scalar_one()
        conn.execute(
            update(t.administrations).where(t.administrations.c.id == first).values(total=40.0)
        )
    code, output = verify(url)
    assert code == 1
    assert f"administration:{first} changed" in output
    assert "Audit chain BROKEN" not in output  # the log itself is whole; the row is not


def test_it_detects_an_edited_or_deleted_note(clinic_db: tuple[str, Engine, Clinic]) -> None:
    url, engine, _ = clinic_db
    with engine.begin() as conn:
        note = conn.execute(select(func.max(t.relational_notes.c.id))).scalar_one()
        conn.execute(
            update(t.relational_notes)
            .where(t.relational_notes.c.id == note)
            .values(text="Nothing happened")
        )
    code, output = verify(url)
    assert code == 1
    assert f"relational_note:{note} changed" in output
    with engine.begin() as conn:
        conn.execute(delete(t.relational_notes).where(t.relational_notes.c.id == note))
    code, output = verify(url)
    assert f"relational_note:{note} removed" in output


def test_it_detects_deleted_newest_events(
    clinic_db: tuple[str, Engine, Clinic], tmp_path: Path
) -> None:
    url, engine, _ = clinic_db
    if url.startswith("sqlite"):
        backup = CliRunner().invoke(main, ["backup", str(tmp_path / "b.db"), "--db", url])
        assert backup.exit_code == 0, backup.output
        found = re.search(r"Audit head hash ([0-9a-f]{64})", backup.output)
    else:  # PostgreSQL is backed up with pg_dump; audit verify prints the head as well
        found = re.search(r"head hash ([0-9a-f]{64})", verify(url)[1])
    assert found is not None
    head = found.group(1)
    code, output = verify(url, "--expect-head", head)
    assert code == 0, output
    assert f"head hash {head}" in output
    with engine.begin() as conn:
        newest = conn.execute(select(func.max(t.audit_events.c.seq))).scalar_one()
        conn.execute(delete(t.audit_events).where(t.audit_events.c.seq >= newest - 1))
    code, output = verify(url)
    assert code == 0  # without a head noted earlier, a shorter chain still checks out
    code, output = verify(url, "--expect-head", head)
    assert code == 1
    assert f"Expected head {head} is not in the chain" in output


def test_it_hashes_the_written_row_inside_the_chain(
    clinic_db: tuple[str, Engine, Clinic],
) -> None:
    _, engine, _ = clinic_db
    with engine.begin() as conn:
        event = (
            conn.execute(
                select(t.audit_events)
                .where(t.audit_events.c.object_type == "administration")
                .order_by(t.audit_events.c.seq.desc())
                .limit(1)
            )
            .mappings()
            .one()
        )
        row = (
            conn.execute(
                select(t.administrations).where(t.administrations.c.id == int(event["object_id"]))
            )
            .mappings()
            .one()
        )
        assert event["row_hash"] == audit.row_digest(row)
        # The row hash is one of the chained fields: changing it breaks the chain there.
        conn.execute(
            update(t.audit_events)
            .where(t.audit_events.c.seq == event["seq"])
            .values(row_hash="0" * 64)
        )
        assert audit.verify(conn) == event["seq"]
        reads = conn.execute(
            select(func.count())
            .select_from(t.audit_events)
            .where(t.audit_events.c.action == "read", t.audit_events.c.row_hash.is_not(None))
        ).scalar_one()
    assert reads == 0
