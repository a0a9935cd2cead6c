"""One scheduler among replicas: the replica holding a PostgreSQL advisory lock runs the jobs.

APScheduler 3 does not coordinate several schedulers on one job store: each would fire every job.
So on PostgreSQL each replica's scheduler waits for a session-level advisory lock before it
registers and runs the jobs; the others retry every few seconds and take over when the leader's
session ends (a stop, a crash, a lost connection). A job that two replicas still ran at once
(a leader that lost its connection mid-job) stays exactly-once where it matters, because pushes
are recorded under unique keys and claimed with one atomic update (see :mod:`bot.store.pushes`).

On SQLite there is one process by construction, and the scheduler starts directly.

Example:
    >>> scheduler = elect(LearningScheduler(deps, url), "postgresql://bot@db/learnbot")
    >>> await scheduler.start()  # leader now, or as soon as the leader goes
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from bot.database import describe, is_postgres

log = logging.getLogger(__name__)

SCHEDULER_LOCK = 0x4C42_5343  # "LBSC"
RETRY_S = 5.0


class ElectedScheduler:
    """A scheduler that runs only while this replica holds the scheduler lock (same start/stop).

    Args:
        scheduler: The :class:`bot.scheduler.LearningScheduler` to run when elected.
        url: The PostgreSQL URL the replicas share.
        retry_s: How often a follower tries for the lock (and a leader checks it still has it).
    """

    def __init__(self, scheduler: Any, url: str, retry_s: float = RETRY_S) -> None:
        self.inner = scheduler
        self.url = url
        self.retry_s = retry_s
        self.leading = False
        self._conn: Any = None
        self._task: asyncio.Task | None = None
        self._paused = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _try_lock(self) -> bool:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    "postgresql://" + self.url.split("://", 1)[1], autocommit=True, connect_timeout=5
                )
            if self.leading:
                self._conn.execute("select 1")
                return True
            row = self._conn.execute("select pg_try_advisory_lock(%s)", [SCHEDULER_LOCK]).fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("scheduler lock on %s: %s", describe(self.url), " ".join(str(exc).split()))
            with contextlib.suppress(Exception):
                if self._conn is not None:
                    self._conn.close()
            self._conn = None
            return False

    async def _elect(self) -> None:
        while True:
            held = await asyncio.to_thread(self._try_lock)
            if held and not self.leading:
                self.leading = True
                log.info("this replica runs the scheduled jobs (it holds the scheduler lock)")
                await self.inner.start(paused=self._paused)
            elif not held and self.leading:
                self.leading = False
                log.warning("scheduler lock lost: this replica stops running the scheduled jobs")
                await self.inner.stop()
            await asyncio.sleep(self.retry_s)

    async def start(self, paused: bool = False) -> None:
        """Run the jobs now if no other replica does, else as soon as the lock is free."""
        self._paused = paused
        if await asyncio.to_thread(self._try_lock):
            self.leading = True
            await self.inner.start(paused=paused)
        else:
            log.info("another replica runs the scheduled jobs; this one takes over if it stops")
        self._task = asyncio.ensure_future(self._elect())

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop trying, stop the jobs, and release the lock (another replica takes over)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.leading:
            await self.inner.stop(timeout)
            self.leading = False
        if self._conn is not None:
            self._conn.close()  # ends the session: the advisory lock goes with it
            self._conn = None


def elect(scheduler: Any, location: str | Path) -> Any:
    """``scheduler`` itself on SQLite; on PostgreSQL, wrapped so only one replica runs it."""
    return ElectedScheduler(scheduler, str(location)) if is_postgres(location) else scheduler
