"""The app's background work: transcripts are coded on one worker thread, off the event loop."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from alliance.services import transcripts


class TranscriptJobs:
    """One worker thread, made on first use; closing waits for the transcript being coded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, transcript_id: int) -> Future[None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcripts")
        return self._pool.submit(transcripts.run_coding, self.engine, transcript_id)

    def resume(self) -> int:
        """Queue again what an earlier run of the app left uncoded; returns how many."""
        waiting = transcripts.unfinished(self.engine)
        for transcript_id in waiting:
            self.submit(transcript_id)
        return len(waiting)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
