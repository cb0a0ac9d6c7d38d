"""CPU work off the event loop: password checks in a bounded pool, heavy pages in threads.

argon2id takes tens of milliseconds of CPU and tens of MiB by design; run on the event loop, a
burst of wrong passwords stalled every other request (the health check included) for seconds.
Each check now runs in a worker thread (argon2-cffi releases the GIL while hashing), at most
`password_checks` at once; up to `password_queue` more wait their turn and any beyond that are
answered 503 with Retry-After, so a flood costs a bounded amount of memory and CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.exceptions import HTTPException

T = TypeVar("T")
RETRY_AFTER_S = 5


class PasswordGate:
    """At most `concurrent` password checks at once; `queue` more may wait, the rest are refused."""

    def __init__(self, concurrent: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(concurrent)
        self.queue = queue
        self.waiting = 0

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` (which checks or hashes a password) in a worker thread, in turn."""
        # Only the event loop's thread touches `waiting`, so no lock is needed.
        if self.waiting >= self.queue + self.limiter.total_tokens:
            raise HTTPException(
                503,
                "the server is busy checking passwords; try again in a few seconds",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.waiting += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=self.limiter)
        finally:
            self.waiting -= 1


async def in_thread(work: Callable[[], T]) -> T:
    """Run blocking work (a PDF, a chart, a transcript) in the default worker threads."""
    return await anyio.to_thread.run_sync(work)
