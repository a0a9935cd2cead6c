"""The scheduler: APScheduler 3's ``AsyncIOScheduler`` with its jobs kept in the SQLite file.

It only wires triggers to the plain jobs of :mod:`bot.jobs`:

- ``learnbot.push_due_quizzes`` every 15 minutes (:00, :15, :30, :45 UTC): due reviews go out
  within a quarter hour of their FSRS due time (or when the learner's active hours open);
- ``learnbot.progress_feedback`` hourly at :00: each learner gets last week's summary at the first
  run of their own local week that falls in their active hours (normally Monday morning);
- ``learnbot.nudge_inactive`` hourly at :30: a reminder lands in each learner's active hours,
  whatever their time zone (once per silence, so running hourly sends nothing twice).

The SQLAlchemy job store pickles a job as a reference to a module-level function plus its
arguments, so every job is stored as :func:`run_job` with the store key and the job id; at run
time it finds the job by id and the live dependencies (store, adapters) in :data:`_LIVE`. The list
above is not all: :func:`job_specs` holds every job (pruning, premium expiry, digests too).
Jobs have stable ids and are re-added with ``replace_existing=True`` at
every start, keeping the next run time the store remembers: runs missed while the bot was down
coalesce into one run at start-up.

Example:
    >>> scheduler = LearningScheduler(app.job_deps({"telegram": adapter}), "sqlite:///data/learnbot.db")
    >>> await scheduler.start()
    >>> await scheduler.stop()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.jobs.digest import send_digests
from bot.jobs.learning import nudge_inactive, progress_feedback, prune_old_rows, push_due_quizzes
from bot.jobs.premium import premium_expiry
from bot.jobs.pushes import JobDeps

log = logging.getLogger(__name__)
JobFn = Callable[[JobDeps, datetime], Awaitable[int]]
ANCHOR = datetime(2026, 1, 5, tzinfo=UTC)
"""A Monday midnight: interval runs are counted from it, so they fall on the same minutes after a restart."""

_LIVE: dict[str, JobDeps] = {}
"""The live dependencies of each started scheduler, by its key (the job store URL)."""
_RUNNING: dict[str, set[asyncio.Task[Any]]] = {}


async def run_job(key: str, job_id: str) -> None:
    """What the scheduler calls (stored as this function, the store key and the job id)."""
    job = _JOBS[job_id]
    deps = _LIVE.get(key)
    if deps is None:
        log.warning("scheduled %s skipped: no live scheduler for %s", job.__name__, key)
        return
    task = asyncio.current_task()
    running = _RUNNING.setdefault(key, set())
    if task is not None:
        running.add(task)
    try:
        sent = await job(deps, datetime.now(UTC))
        log.info("%s sent %d", job.__name__, sent)
    finally:
        running.discard(task)  # type: ignore[arg-type]


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: a stable id, the job, its trigger, and how late a run may still start."""

    id: str
    name: str
    job: JobFn
    trigger: BaseTrigger
    grace: timedelta


def job_specs(push_every: timedelta = timedelta(minutes=15)) -> list[JobSpec]:
    """The jobs Learnbot schedules. A coalesced missed run is at most one period old, so it still runs."""
    return [
        JobSpec(
            "learnbot.push_due_quizzes",
            "push due quizzes",
            push_due_quizzes,
            IntervalTrigger(seconds=int(push_every.total_seconds()), start_date=ANCHOR, timezone=UTC),
            push_every,
        ),
        JobSpec(
            "learnbot.progress_feedback",
            "weekly progress feedback (each learner's local week)",
            progress_feedback,
            CronTrigger(minute=0, timezone=UTC),
            timedelta(hours=1),
        ),
        JobSpec(
            "learnbot.nudge_inactive",
            "nudge inactive learners",
            nudge_inactive,
            CronTrigger(minute=30, timezone=UTC),
            timedelta(hours=1),
        ),
        JobSpec(
            "learnbot.prune_old_rows",
            "delete questions past their retention and old delivery ids",
            prune_old_rows,
            CronTrigger(hour=3, minute=45, timezone=UTC),
            timedelta(days=1),
        ),
        JobSpec(
            # planned once per end of access (a daily reminder); run hourly so each learner gets it
            # when their own active hours open, whatever their time zone
            "learnbot.premium_expiry",
            "premium expiry reminders and notices",
            premium_expiry,
            CronTrigger(minute=50, timezone=UTC),
            timedelta(hours=1),
        ),
        JobSpec(
            "learnbot.send_digests",
            "weekly team digests for managers (each manager's local week)",
            send_digests,
            CronTrigger(minute=15, timezone=UTC),
            timedelta(hours=1),
        ),
    ]


_JOBS: dict[str, JobFn] = {spec.id: spec.job for spec in job_specs()}
"""The job functions by id: the job store keeps only ``run_job`` and the id, never a closure."""


class LearningScheduler:
    """Runs the scheduled jobs in the bot's event loop; the jobs persist in the SQLite file.

    Args:
        deps: What the jobs use (store, learning chat, adapters by platform).
        url: SQLAlchemy URL of the job store, ``sqlite:///<data dir>/learnbot.db`` (or PostgreSQL).
        push_every: Period of the due-quiz job.
    """

    def __init__(self, deps: JobDeps, url: str, push_every: timedelta = timedelta(minutes=15)) -> None:
        self.deps = deps
        self.key = url
        self.specs = job_specs(push_every)
        engine_options = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=url, engine_options=engine_options)},
            timezone=UTC,
        )

    async def start(self, paused: bool = False) -> None:
        """Register the jobs (same ids, no duplicates) and begin running them. Needs a running loop."""
        _LIVE[self.key] = self.deps
        self.scheduler.start(paused=True)
        for spec in self.specs:
            remembered = self._remembered_next_run(spec.id)
            extra = {"next_run_time": remembered} if remembered is not None else {}
            self.scheduler.add_job(
                run_job,
                spec.trigger,
                args=[self.key, spec.id],
                id=spec.id,
                name=spec.name,
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=int(spec.grace.total_seconds()),
                max_instances=1,
                **extra,
            )
        if not paused:
            self.scheduler.resume()

    def _remembered_next_run(self, job_id: str) -> datetime | None:
        try:
            job = self.scheduler.get_job(job_id)
        except Exception:  # a job pickled by an older version that no longer loads: schedule afresh
            log.warning("stored job %s could not be loaded; it is scheduled anew", job_id, exc_info=True)
            return None
        return job.next_run_time if job is not None else None

    def jobs(self) -> list[Job]:
        """The scheduled jobs, soonest first."""
        return self.scheduler.get_jobs()

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop scheduling, let a job that is running finish (up to ``timeout``), release the store."""
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        running = [t for t in _RUNNING.get(self.key, set()) if not t.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
        _LIVE.pop(self.key, None)
