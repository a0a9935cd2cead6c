"""The premium expiry job: a reminder before access ends, a notice when it has ended.

Access itself stops at ``valid_until`` whatever this job does (:meth:`Store.entitled_tracks` is
decided by time); the job tells learners and records the ends. It uses the exactly-once pushes of
:mod:`bot.jobs.pushes`: each reminder is recorded under the key (learner, kind, track, end of access), so
it is sent once however often the job runs, and a renewal (a new end) earns a new reminder.

Example:
    >>> await premium_expiry(app.job_deps({"telegram": adapter}), datetime.now(UTC))
"""

from __future__ import annotations

from datetime import datetime

from bot.jobs.pushes import JobDeps, PlannedPush, PushKind, deliver_pending, plan_and_record
from bot.messages import Button, Reply
from bot.metrics import PAYMENT_EVENTS
from bot.premium import RENEW_WINDOW, day
from bot.store import Push
from bot.store.premium import Expiring

REMINDER, ENDED = "premium_reminder", "premium_ended"


async def premium_expiry(deps: JobDeps, now: datetime) -> int:
    """Remind learners whose access ends within 3 days (once), tell those whose access ended.

    Returns the number of messages sent.
    """
    await plan_and_record(deps, plan_expiry, now)  # in a worker thread: chats go on meanwhile
    return await deliver_pending(deps, REMINDER_PUSH, now) + await deliver_pending(deps, ENDED_PUSH, now)


def plan_expiry(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """Record the accesses that ended, and plan their notices and the reminders of those ending soon."""
    ended = deps.store.end_expired(now)
    if ended:
        PAYMENT_EVENTS.labels("expired").inc(len(ended))
    soon = deps.store.expiring(now, RENEW_WINDOW)
    return _plan(deps, REMINDER, soon, now) + _plan(deps, ENDED, ended, now)


def _plan(deps: JobDeps, kind: str, rows: list[Expiring], now: datetime) -> list[PlannedPush]:
    if not deps.adapters or not rows:
        return []
    chats = deps.store.push_chats(sorted({r.learner_id for r in rows}), list(deps.adapters))
    return [
        PlannedPush(kind, r.learner_id, r.track, r.until, now.date().isoformat(), *chats[r.learner_id])
        for r in rows
        if r.learner_id in chats
    ]


def _reminder(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    access = deps.store.access(push.learner_id, push.item_id, now)
    if access is None:
        return "the access has ended already"
    if access.until != push.due:
        return "the access was renewed or changed"
    return Reply(
        f"Your premium access to {push.item_id} ends on {day(push.due)}. Send /premium to renew it "
        "(and keep your premium lessons, quizzes and reviews).",
        buttons=[[Button(f"Renew {push.item_id}", f"premium:{push.item_id}")]],
    )


def _ended(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    if deps.store.access(push.learner_id, push.item_id, now) is not None:
        return "the access was renewed"
    return Reply(
        f"Your premium access to {push.item_id} has ended. Its lessons and quizzes are locked again; "
        "your progress is kept. Send /premium to renew.",
        buttons=[[Button(f"Renew {push.item_id}", f"premium:{push.item_id}")]],
    )


REMINDER_PUSH = PushKind(REMINDER, _reminder)
ENDED_PUSH = PushKind(ENDED, _ended)
