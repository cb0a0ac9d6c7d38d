"""The group-commit writer: one commit per batch, one savepoint per write, each caller answered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError

from alliance.store import audit
from alliance.store.base import Actor, utc_now
from alliance.store.tables import audit_events
from alliance.store.writer import GroupCommitWriter, WriterClosedError

SYSTEM = Actor.system()


@pytest.fixture
def writer(engine: Engine) -> Iterator[GroupCommitWriter]:
    writer = GroupCommitWriter(engine, max_batch=64)
    yield writer
    writer.close()


def note(n: int) -> Callable[[Connection], int]:
    """A write that appends one audit event for object `n` and returns its seq."""

    def work(conn: Connection) -> int:
        event = audit.record(conn, SYSTEM, "create", "test", n)
        assert event is not None  # a write connection appends at once
        return event.seq

    return work


def failing(n: int, error: Exception) -> Callable[[Connection], int]:
    """A write that appends its audit event and then fails."""

    def work(conn: Connection) -> int:
        audit.record(conn, SYSTEM, "create", "test", n)
        raise error

    return work


class Gate:
    """A write that holds the writer busy, so that writes queued meanwhile form one batch."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: Connection) -> None:
        self.started.set()
        assert self.release.wait(10)


def stored_objects(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(audit_events.c.object_id).order_by(audit_events.c.seq)).scalars()
        )


def chain_ok(engine: Engine) -> bool:
    with engine.connect() as conn:
        return audit.verify(conn) is None


def gated_batch(writer: GroupCommitWriter, works: list[Callable[[Connection], Any]]) -> list[Any]:
    """Queue `works` while a gate holds the writer, then let them through as one batch."""
    gate = Gate()
    held = writer.submit(gate)
    assert gate.started.wait(10)
    futures = [writer.submit(work) for work in works]
    gate.release.set()
    held.exception(10)  # waits; the gate's own batch may fail in a test that makes commits fail
    return futures


def test_it_commits_a_queue_of_writes_as_one_batch_in_order(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    futures = gated_batch(writer, [note(n) for n in range(20)])
    assert [f.result(10) for f in futures] == list(range(1, 21))
    assert writer.batches == 2  # the gate alone, then all twenty together
    assert writer.writes == 21
    assert stored_objects(engine) == [str(n) for n in range(20)]
    assert chain_ok(engine)


def test_it_fails_only_the_write_that_raised_and_keeps_the_chain(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    works = [note(0), failing(1, ValueError("one")), note(2), failing(3, KeyError("three"))]
    futures = gated_batch(writer, [*works, note(4)])
    assert futures[0].result(10) == 1
    with pytest.raises(ValueError, match="one"):
        futures[1].result(10)
    assert futures[2].result(10) == 2
    with pytest.raises(KeyError, match="three"):
        futures[3].result(10)
    assert futures[4].result(10) == 3
    assert writer.batches == 2
    # The failed writes' audit rows went with their savepoints; the survivors chain unbroken.
    assert stored_objects(engine) == ["0", "2", "4"]
    assert chain_ok(engine)


def test_it_survives_a_database_error_inside_one_write(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    def duplicate(conn: Connection) -> None:
        # On PostgreSQL this aborts the transaction; only its savepoint may be lost.
        audit.record(conn, SYSTEM, "create", "test", "dup")
        conn.execute(
            insert(audit_events).values(
                seq=1, at=utc_now(), action="x", object_type="x", prev_hash="0", hash="0"
            )
        )

    futures = gated_batch(writer, [note(0), duplicate, note(1)])
    assert futures[0].result(10) == 1
    with pytest.raises(IntegrityError):
        futures[1].result(10)
    assert futures[2].result(10) == 2
    assert stored_objects(engine) == ["0", "1"]
    assert chain_ok(engine)


def test_it_tells_every_caller_when_the_commit_itself_fails(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    writer.run(note(0))

    def refuse(conn: Connection) -> None:
        raise OSError("disk full")

    event.listen(engine, "commit", refuse)
    try:
        futures = gated_batch(writer, [note(1), failing(2, ValueError("own")), note(3)])
        with pytest.raises(OSError, match="disk full"):
            futures[0].result(10)
        # A write that failed by itself keeps its own error, not the commit's.
        with pytest.raises(ValueError, match="own"):
            futures[1].result(10)
        with pytest.raises(OSError, match="disk full"):
            futures[2].result(10)
    finally:
        event.remove(engine, "commit", refuse)
    assert stored_objects(engine) == ["0"]
    # The writer carries on after a failed batch.
    assert writer.run(note(4)) == 2
    assert chain_ok(engine)


def test_it_limits_the_batch_size(engine: Engine) -> None:
    writer = GroupCommitWriter(engine, max_batch=4)
    try:
        futures = gated_batch(writer, [note(n) for n in range(10)])
        assert [f.result(10) for f in futures] == list(range(1, 11))
        assert writer.batches == 1 + 3  # the gate, then 4 + 4 + 2
    finally:
        writer.close()
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitWriter(engine, max_batch=0)


def test_it_refuses_a_write_that_queues_another(writer: GroupCommitWriter) -> None:
    def nested(conn: Connection) -> int:
        return writer.run(note(1))

    with pytest.raises(RuntimeError, match="cannot queue another write"):
        writer.run(nested, timeout=10)


def test_it_closes_as_a_context_manager(engine: Engine) -> None:
    with GroupCommitWriter(engine) as writer:
        pending = writer.submit(note(0))
    assert writer.closed
    assert pending.result(0) == 1


def test_it_finishes_queued_writes_on_close_and_then_refuses(engine: Engine) -> None:
    writer = GroupCommitWriter(engine)
    gate = Gate()
    held = writer.submit(gate)
    assert gate.started.wait(10)
    futures = [writer.submit(note(n)) for n in range(5)]
    closer = threading.Thread(target=writer.close)
    closer.start()
    gate.release.set()
    closer.join(10)
    assert not closer.is_alive()
    held.result(0)
    assert [f.result(0) for f in futures] == [1, 2, 3, 4, 5]
    assert writer.closed
    with pytest.raises(WriterClosedError):
        writer.submit(note(9))
    writer.close()  # a second close is harmless
    assert stored_objects(engine) == ["0", "1", "2", "3", "4"]


def test_it_skips_a_write_cancelled_before_it_ran(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    gate = Gate()
    held = writer.submit(gate)
    assert gate.started.wait(10)
    kept, dropped = writer.submit(note(0)), writer.submit(note(1))
    assert dropped.cancel()
    gate.release.set()
    held.result(10)
    assert kept.result(10) == 1
    assert dropped.cancelled()
    assert stored_objects(engine) == ["0"]


def test_it_serves_many_threads_with_every_write_stored_once(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    threads, each = 8, 25
    results: dict[int, list[int]] = {}

    def client(k: int) -> None:
        results[k] = [writer.run(note(k * 1000 + i), timeout=30) for i in range(each)]

    pool = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    seqs = [seq for k in range(threads) for seq in results[k]]
    assert sorted(seqs) == list(range(1, threads * each + 1))
    for k in range(threads):
        assert results[k] == sorted(results[k])  # one caller's writes stay in its order
    stored = stored_objects(engine)
    assert sorted(stored, key=lambda s: int(s or 0)) == [
        str(k * 1000 + i) for k in range(threads) for i in range(each)
    ]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_events)).scalar_one() == 200
    assert chain_ok(engine)


def test_it_awaits_a_write_without_blocking_the_event_loop(
    writer: GroupCommitWriter, engine: Engine
) -> None:
    async def main() -> list[int]:
        gate = Gate()
        held: Future[None] = writer.submit(gate)
        pending = asyncio.gather(*(writer.run_async(note(n)) for n in range(3)))
        while not gate.started.is_set():
            await asyncio.sleep(0.001)
        # The loop keeps running while the writer is busy: each tick comes round while the gate
        # still holds the writer and the three writes still wait behind it. A run_async that
        # blocked the loop would come back only after the gate gave up (10 s), writes done.
        busy_ticks = 0
        for _ in range(5):
            await asyncio.sleep(0)
            busy_ticks += not held.done() and not pending.done()
        assert busy_ticks == 5
        gate.release.set()
        await asyncio.wrap_future(held)
        return list(await pending)

    assert asyncio.run(main()) == [1, 2, 3]
    assert chain_ok(engine)
