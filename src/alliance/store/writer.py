"""Group commit: one writer thread runs many small writes in one transaction and commits once.

A durable commit costs one fsync (SQLite with synchronous=FULL, PostgreSQL with fsync on), and
the write lock lets one transaction in at a time, so a commit per write caps throughput at about
one write per fsync. The writer takes every write waiting in its queue (at most `max_batch`),
runs each in its own SAVEPOINT inside one transaction, commits once, and only then answers each
caller: with its result when the commit returned, or with its own exception when its savepoint
was rolled back (the others still commit). A caller is never told "stored" before the commit
that holds its write has returned, so durability per acknowledged write is unchanged.

Writes see the effects of the writes before them in the same batch, in submission order, so a
hash chain that reads its last link inside the transaction (the audit log) stays unbroken; a
rolled-back savepoint takes its own audit row with it and the next write chains to the one
before.

The same code runs on PostgreSQL: SAVEPOINT and ROLLBACK TO SAVEPOINT behave alike there (a
failed statement aborts only the savepoint), and the batch saves fsyncs and turns of the audit
chain's advisory lock just as on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from alliance.store.engine import writing

T = TypeVar("T")
log = logging.getLogger("alliance.store.writer")

DEFAULT_MAX_BATCH = 64


class WriterClosedError(RuntimeError):
    """The writer was closed; no new writes are taken.

    Not an `AllianceError`: nothing the caller sent is wrong. It means the server is shutting
    down (or code wrote after close), so it must not become a 4xx or a tidy CLI refusal.
    """


@dataclass
class _Job:
    work: Callable[[Connection], Any]
    future: Future[Any]


_STOP = object()


class GroupCommitWriter:
    """Runs writes `work(conn)` from any thread, committing them in batches from one thread."""

    def __init__(
        self, engine: Engine, *, max_batch: int = DEFAULT_MAX_BATCH, name: str = "alliance-writer"
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: {max_batch} is not allowed; at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._name = name
        self.batches = 0
        self.writes = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> GroupCommitWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, work: Callable[[Connection], T]) -> Future[T]:
        """Queue one write; the future resolves after the commit that holds it returned."""
        future: Future[T] = Future()
        if self._thread is not None and self._thread is threading.current_thread():
            # The writer would wait for itself: a write must not queue another write.
            raise RuntimeError("a write cannot queue another write; do it on the same connection")
        with self._lock:
            if self._closed:
                raise WriterClosedError("the writer is closed; no new writes are taken")
            if self._thread is None:
                # Started on first use, so an app that is built but never served holds no thread.
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(_Job(work, future))
        return future

    def run(self, work: Callable[[Connection], T], timeout: float | None = None) -> T:
        """Queue one write and wait for it: its result, or the exception it raised."""
        return self.submit(work).result(timeout)

    async def run_async(self, work: Callable[[Connection], T]) -> T:
        """As `run`, without blocking the event loop while the batch commits."""
        return await asyncio.wrap_future(self.submit(work))

    def close(self, timeout: float | None = 30.0) -> None:
        """Take no new writes, finish (and commit) every write already queued, stop the thread."""
        with self._lock:
            if self._closed:
                thread = self._thread
            else:
                self._closed = True
                thread = self._thread
                self._queue.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
            self._commit([job for job in batch if isinstance(job, _Job)])

    def _commit(self, batch: list[_Job]) -> None:
        # A caller that cancelled before its write started is dropped; after this, no one can.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            # Leaving the block without an error has committed: the batch is durable after it.
            with writing(self.engine) as conn:
                for job in batch:
                    outcomes.append(_run_one(conn, job))
        except BaseException as exc:  # every waiting caller must hear of it, whatever it is
            # The transaction (or the connection) failed: nothing in this batch was stored. A
            # write that had failed on its own still gets its own error; the rest get this one.
            log.error("a write batch of %d failed to commit: %s", len(batch), type(exc).__name__)
            for i, job in enumerate(batch):
                own = outcomes[i] if i < len(outcomes) and not outcomes[i][0] else None
                job.future.set_exception(own[1] if own is not None else exc)
            return
        self.batches += 1
        self.writes += len(batch)
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


def _run_one(conn: Connection, job: _Job) -> tuple[bool, Any]:
    """One write in its own savepoint: (True, result), or (False, its exception) rolled back."""
    savepoint = conn.begin_nested()
    try:
        result = job.work(conn)
    except Exception as exc:
        # Rolling back to the savepoint undoes this write alone; if that fails, the connection
        # is unusable and the error sinks the whole batch (handled by the caller).
        if savepoint.is_active:
            savepoint.rollback()
        return False, exc
    savepoint.commit()
    return True, result
