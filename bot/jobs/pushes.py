"""Exactly-once pushes: the machinery every scheduled job that messages learners shares.

A job (:mod:`bot.jobs.learning`, :mod:`bot.jobs.premium`, :mod:`bot.jobs.digest`) names its kind
of push with a :class:`PushKind` and works in three steps:

1. **plan** who gets what now (due cards, the learner's local active hours, the daily cap, pause),
   in a worker thread with its own database connection (:func:`plan_and_record`), so chats are
   answered meanwhile;
2. **record** each push in ``sent_pushes`` as ``pending`` under a unique key (learner, kind, item,
   due key), so a rerun or an overlapping run finds the row instead of planning it again;
3. **deliver** the pending rows: claim one atomically, check it still makes sense, send it, mark
   it ``sent``. A failed send stays ``pending`` with an attempt count and is retried later; a crash
   between record and send leaves ``pending`` rows the next run delivers.

The one window left is a crash after the platform accepted a message and before it was marked
sent: that push is sent again once its claim goes stale (at-least-once there, as with any chat API
without idempotency keys).

Example:
    >>> NUDGE_PUSH = PushKind("nudge", build_nudge)
    >>> await plan_and_record(deps, plan_nudges, now)
    >>> await deliver_pending(deps, NUDGE_PUSH, now)
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.chat.learning import LearningChat
from bot.messages import ChatAdapter, Reply
from bot.metrics import PUSHES_SENT
from bot.reviews import zone
from bot.store import ActiveHours, Push, Store

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(minutes=10)
"""A claim older than this belongs to a worker that died mid-send; another run may take the push."""
RETRY_AFTER = timedelta(minutes=10)
"""Wait after the first failed send (doubling per attempt, at most :data:`RETRY_AT_MOST`)."""
RETRY_AT_MOST = timedelta(hours=6)
RECORD_BATCH = 1000
"""Pushes recorded per transaction."""


def _worker_id() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class JobDeps:
    """What the jobs need: the store, the learning chat (for its wording), live adapters by platform.

    ``worker`` names this process in claims, so overlapping runs can tell their pushes apart.
    """

    store: Store
    chat: LearningChat
    adapters: Mapping[str, ChatAdapter]
    max_pushes_per_day: int = 3
    nudge_after_days: int = 7
    worker: str = field(default_factory=_worker_id)
    questions_retention_days: int = 365
    recommend: Callable[[int, datetime], list[Any]] | None = None
    """The learner's recommendations (``recommender.recommend.Recommendation``), when wired."""


@dataclass(frozen=True)
class PlannedPush:
    """A push the plan step chose; recording it makes it ``pending``."""

    kind: str
    learner_id: int
    item_id: str
    due: str
    local_day: str
    platform: str
    chat_id: str


def in_active_hours(hours: ActiveHours, local: datetime) -> bool:
    """Whether a local time falls in the learner's active hours (``22-6`` spans midnight)."""
    if hours.start < hours.end:
        return hours.start <= local.hour < hours.end
    return local.hour >= hours.start or local.hour < hours.end


class LocalClock:
    """``now`` in each learner's zone, computed once per zone per run (100,000 learners share few)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._local: dict[str, datetime] = {}

    def local(self, timezone: str) -> datetime:
        """``now`` in the IANA zone ``timezone``."""
        if timezone not in self._local:
            self._local[timezone] = self.now.astimezone(zone(timezone))
        return self._local[timezone]


Build = Callable[[JobDeps, Push, datetime], Reply | str]
Sent = Callable[[JobDeps, Push], None]


@dataclass(frozen=True)
class PushKind:
    """A kind of push, and what delivering one takes.

    Example:
        >>> QUIZ_PUSH = PushKind("quiz", build_quiz_reply, sent=expect_answer)
    """

    name: str
    """The kind, as recorded in ``sent_pushes``."""
    build: Build
    """Makes the reply at send time, or returns a string saying why the push is dropped."""
    sent: Sent | None = None
    """Called after a successful send (a quiz waits for the learner's answer)."""


def record(deps: JobDeps, planned: list[PlannedPush], now: datetime) -> int:
    """Record planned pushes as ``pending`` (a key recorded before is left alone); returns new rows.

    One commit per :data:`RECORD_BATCH` pushes, not one per push, and no single write transaction
    long enough to keep the chat handlers' writes waiting.
    """
    added = 0
    for start in range(0, len(planned), RECORD_BATCH):
        with deps.store.transaction():
            added += sum(
                deps.store.record_push(
                    kind=p.kind,
                    learner_id=p.learner_id,
                    item_id=p.item_id,
                    due=p.due,
                    local_day=p.local_day,
                    platform=p.platform,
                    chat_id=p.chat_id,
                    at=now,
                )
                for p in planned[start : start + RECORD_BATCH]
            )
    return added


async def plan_and_record(
    deps: JobDeps, plan: Callable[[JobDeps, datetime], list[PlannedPush]], now: datetime
) -> int:
    """Run a job's plan and record steps in a worker thread, so the event loop keeps serving chats.

    Planning reads every due card, learner and chat (about a second of Python and SQLite for 100,000
    learners). The thread works on its own SQLite connection to the same file, never on the
    store's: that connection (and the RLock around its transactions) stays with the event loop,
    whose chat turns write through it meanwhile. WAL gives the plan a consistent snapshot; SQLite
    serialises the two connections' writes. Exactly once is unchanged: recording is keyed, so a
    push planned twice (overlapping runs) is recorded once, and delivery claims each row. An
    in-memory store has no file to share and plans on the loop. Returns the rows recorded.
    """
    store = deps.store
    if str(store.path) == ":memory:":
        return record(deps, plan(deps, now), now)

    def in_thread() -> int:
        own = Store(store.path)
        try:
            mine = replace(deps, store=own)
            return record(mine, plan(mine, now), now)
        finally:
            own.close()

    return await asyncio.to_thread(in_thread)


async def deliver_pending(deps: JobDeps, kind: PushKind, now: datetime) -> int:
    """Send the pending pushes of ``kind`` that are due for an attempt; returns how many were sent."""
    store, stale = deps.store, now - CLAIM_TTL
    clock = LocalClock(now)
    sent = 0
    for push in store.claimable_pushes(kind.name, now, stale):
        adapter = deps.adapters.get(push.platform)
        if adapter is None:
            continue  # that platform is not served by this process; a process that serves it sends it
        settings = store.learner_settings(push.learner_id)
        hours = ActiveHours(settings.timezone, settings.active_start, settings.active_end)
        if settings.paused or not in_active_hours(hours, clock.local(settings.timezone)):
            continue  # waits, pending, until they resume or their hours open
        if not store.claim_push(push.id, deps.worker, now, stale):
            continue  # an overlapping run has it
        try:
            reply = kind.build(deps, push, now)
        except Exception:
            log.exception("could not build %s push %s", push.kind, push.id)
            store.release_push(push.id, deps.worker)
            continue
        if isinstance(reply, str):
            store.expire_push(push.id, deps.worker, reply)
            continue
        try:
            await adapter.send(push.chat_id, reply)
        except Exception as exc:
            wait = min(RETRY_AFTER * 2**push.attempts, RETRY_AT_MOST)
            log.warning(
                "%s push %s to %s failed (attempt %d): %s",
                kind.name,
                push.id,
                push.platform,
                push.attempts + 1,
                exc,
            )
            store.retry_push_later(push.id, deps.worker, f"{type(exc).__name__}: {exc}", now + wait)
            continue
        store.mark_push_sent(push.id, deps.worker, now)
        PUSHES_SENT.labels(push.kind).inc()
        log.info("%s push %s sent to learner %s on %s", push.kind, push.id, push.learner_id, push.platform)
        if kind.sent is not None:
            kind.sent(deps, push)
        sent += 1
    return sent
