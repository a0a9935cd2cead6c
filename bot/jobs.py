"""Scheduled jobs: due quizzes, the weekly progress feedback and nudges after a silence.

Each job is a plain ``async def job(deps, now)``; tests call it with a fixed ``now`` and
``bot/scheduler.py`` only wires triggers. Every job works in three steps:

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
    >>> deps = app.job_deps({"telegram": telegram_adapter})
    >>> await push_due_quizzes(deps, datetime.now(UTC))
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.learning_handlers import LearningChat, course_data, lesson_data
from bot.messages import Button, ChatAdapter, Reply
from bot.metrics import PUSHES_SENT
from bot.reviews import zone
from bot.store import ActiveHours, Push, Store

log = logging.getLogger(__name__)

QUIZ, FEEDBACK, NUDGE = "quiz", "feedback", "nudge"
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


def entitled_to_pushes(
    store: Store, learner_id: int, course: Mapping[str, Any], now: datetime | None = None
) -> bool:
    """May this learner get pushes from this course: free, or an unexpired entitlement to its track."""
    return store.may_see_course(learner_id, dict(course), now or datetime.now(UTC))


def in_active_hours(hours: ActiveHours, local: datetime) -> bool:
    """Whether a local time falls in the learner's active hours (``22-6`` spans midnight)."""
    if hours.start < hours.end:
        return hours.start <= local.hour < hours.end
    return local.hour >= hours.start or local.hour < hours.end


class _LocalClock:
    """``now`` in each learner's zone, computed once per zone per run (100,000 learners share few)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._local: dict[str, datetime] = {}

    def local(self, timezone: str) -> datetime:
        if timezone not in self._local:
            self._local[timezone] = self.now.astimezone(zone(timezone))
        return self._local[timezone]


# -- due quizzes -----------------------------------------------------------------------------------


async def push_due_quizzes(deps: JobDeps, now: datetime) -> int:
    """Push each learner's most overdue review, within their active hours and daily cap; returns sends."""
    await plan_and_record(deps, plan_quiz_pushes, now)
    return await deliver_pending(deps, QUIZ, now)


def plan_quiz_pushes(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """At most one due quiz per learner: the most overdue card of a course they may get pushes from."""
    if not deps.adapters:
        return []
    store, clock = deps.store, _LocalClock(now)
    courses = {c["course_id"]: c for c in store.courses()}
    per_day = store.quiz_pushes_per_day(since=now - timedelta(days=2))
    chosen: dict[int, tuple[str, str, str]] = {}  # learner -> (item, due, local day)
    for candidate in store.due_push_candidates(now):  # most overdue first
        learner = candidate.learner_id
        if learner in chosen:
            continue
        course = courses.get(candidate.course_id)
        if course is None or not entitled_to_pushes(store, learner, course, now):
            continue
        local = clock.local(candidate.hours.timezone)
        if not in_active_hours(candidate.hours, local):
            continue
        day = local.date().isoformat()
        if per_day.get((learner, day), 0) >= deps.max_pushes_per_day:
            continue
        chosen[learner] = (candidate.item_id, candidate.due, day)
    chats = store.push_chats(list(chosen), list(deps.adapters))
    return [
        PlannedPush(QUIZ, learner, item, due, day, *chats[learner])
        for learner, (item, due, day) in chosen.items()
        if learner in chats
    ]


def _quiz_reply(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    card = deps.store.review_card(push.learner_id, push.item_id)
    item = deps.store.quiz_item(push.item_id)
    if card is None or item is None or item.status != "approved":
        return "the item is no longer asked"
    course = deps.store.course(item.course_id)
    if course is None or not entitled_to_pushes(deps.store, push.learner_id, course, now):
        return "the learner has no access to the course now"
    if card.due != push.due:
        return "the card was reviewed since"
    return deps.chat.quiz_reply(item, heading="Time to review")


# -- weekly feedback -------------------------------------------------------------------------------


async def progress_feedback(deps: JobDeps, now: datetime) -> int:
    """Each learner's summary of last week, once a week, early in their local week; returns sends.

    Run it hourly: a learner gets it at the first run in their own week (normally Monday, when their
    active hours begin), provided they enrolled before that week began.
    """
    await plan_and_record(deps, plan_feedback, now)
    return await deliver_pending(deps, FEEDBACK, now)


def week_start(local: datetime) -> date:
    """The Monday of a local time's week."""
    return local.date() - timedelta(days=local.weekday())


def plan_feedback(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """Learners whose feedback for this local week is not recorded yet and whose hours are open."""
    if not deps.adapters:
        return []
    clock = _LocalClock(now)
    wanted: dict[int, tuple[str, str]] = {}  # learner -> (week key, local day)
    for learner in deps.store.feedback_learners():
        local = clock.local(learner.hours.timezone)
        monday = week_start(local)
        begins = datetime.combine(monday, time(0), tzinfo=local.tzinfo)
        if in_active_hours(learner.hours, local) and datetime.fromisoformat(learner.since) < begins:
            wanted[learner.learner_id] = (monday.isoformat(), local.date().isoformat())
    done = deps.store.pushed_keys(FEEDBACK, [key for key, _ in wanted.values()])
    wanted = {learner: v for learner, v in wanted.items() if (learner, v[0]) not in done}
    chats = deps.store.push_chats(list(wanted), list(deps.adapters))
    return [
        PlannedPush(FEEDBACK, learner, "", key, day, *chats[learner])
        for learner, (key, day) in wanted.items()
        if learner in chats
    ]


def _feedback_reply(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    tz = zone(deps.store.learner_settings(push.learner_id).timezone)
    monday = date.fromisoformat(push.due)
    if week_start(now.astimezone(tz)) != monday:
        return "that week is over"
    return feedback_reply(deps, push.learner_id, monday, tz, now)


def feedback_reply(deps: JobDeps, learner_id: int, monday: date, tz: ZoneInfo, now: datetime) -> Reply:
    """Last week's summary: lessons finished, quiz accuracy, reviews due, the next lesson."""
    store, loop = deps.store, deps.chat.loop
    begin = datetime.combine(monday - timedelta(days=7), time(0), tzinfo=tz)
    end = datetime.combine(monday, time(0), tzinfo=tz)

    def in_week(at: str) -> bool:
        return begin <= datetime.fromisoformat(at) < end

    titles = {
        (c["course_id"], row.lesson_id): row.title
        for c in store.courses()
        for row in store.lessons(c["course_id"])
    }
    finished = [
        titles.get((e["course_id"], e["lesson_id"]), e["lesson_id"])
        for e in store.progress_events(learner_id)
        if e["kind"] == "done" and in_week(e["at"])
    ]
    answers = [a for a in store.attempts(learner_id) if in_week(a.at)]
    progress = loop.progress(learner_id, now)
    due = sum(p.due for p in progress)
    sunday = monday - timedelta(days=1)
    lines = [f"Your week in review ({begin:%d %b} - {sunday:%d %b}):"]
    lines.append(f"- Finished: {', '.join(finished)}" if finished else "- Finished: no lessons this week")
    for p in progress:
        lines.append(f"- {p.title}: {p.lessons_done} of {p.lessons_total} lessons done")
    if answers:
        right = sum(a.correct for a in answers)
        lines.append(f"- Quiz answers: {len(answers)}, {right / len(answers):.0%} right")
    else:
        lines.append("- Quiz answers: none this week")
    lines.append(f"- Reviews due now: {due}")
    return _with_next_steps(deps, learner_id, "\n".join(lines), due)


def _with_next_steps(deps: JobDeps, learner_id: int, text: str, due: int) -> Reply:
    """``text`` with the next lesson named and buttons to open it and to practise what is due."""
    upcoming = deps.chat.loop.next_lesson(learner_id)
    buttons: list[Button] = []
    recs = [r for r in deps.recommend(learner_id, deps.chat.now()) if not r.locked] if deps.recommend else []
    ahead = next((r for r in recs if r.kind != "review"), None)
    if ahead is not None:  # the recommender's next lesson, with its reason (and a weak lesson to review)
        course = deps.store.course(ahead.course_id) or {"title": ahead.course_id}
        text += f"\nNext lesson: {ahead.title} ({course['title']}). Why: {ahead.reason}."
        review = next((r for r in recs if r.kind == "review"), None)
        if review is not None:
            text += f"\nWorth a review first: {review.title} ({review.reason})."
        buttons.append(Button("Next lesson", lesson_data("open", ahead.course_id, ahead.lesson_id)))
    elif upcoming is not None:
        course, lesson = upcoming
        text += f"\nNext lesson: {lesson.title} ({course['title']})."
        buttons.append(Button("Next lesson", course_data("lesson", course["course_id"])))
    else:
        text += "\nYou have finished every lesson of your courses."
    if due:
        buttons.append(Button("Review now", "quiz:next"))
    return Reply(text, buttons=[buttons] if buttons else [])


# -- nudges ----------------------------------------------------------------------------------------


async def nudge_inactive(deps: JobDeps, now: datetime) -> int:
    """A gentle reminder after ``nudge_after_days`` of silence, once per silence; returns sends."""
    await plan_and_record(deps, plan_nudges, now)
    return await deliver_pending(deps, NUDGE, now)


def plan_nudges(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """Enrolled learners silent for long enough, not nudged for this silence, in their active hours."""
    if not deps.adapters:
        return []
    clock = _LocalClock(now)
    wanted: dict[int, tuple[str, str]] = {}
    for learner in deps.store.silent_learners(before=now - timedelta(days=deps.nudge_after_days)):
        local = clock.local(learner.hours.timezone)
        if in_active_hours(learner.hours, local):
            wanted[learner.learner_id] = (learner.since, local.date().isoformat())
    chats = deps.store.push_chats(list(wanted), list(deps.adapters))
    return [
        PlannedPush(NUDGE, learner, "", last, day, *chats[learner])
        for learner, (last, day) in wanted.items()
        if learner in chats
    ]


def _nudge_reply(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    if deps.store.last_active(push.learner_id) != push.due:
        return "the learner came back"
    days = (now - datetime.fromisoformat(push.due)).days
    due = sum(p.due for p in deps.chat.loop.progress(push.learner_id, now))
    text = f"Hi! It has been {days} days since we last talked."
    if due:
        text += f" {due} review{'s are' if due != 1 else ' is'} waiting; a few minutes keeps them fresh."
    text += " /pause stops these reminders."
    return _with_next_steps(deps, push.learner_id, text, due)


# -- record and deliver ----------------------------------------------------------------------------

_REPLIES: dict[str, Callable[[JobDeps, Push, datetime], Reply | str]] = {
    QUIZ: _quiz_reply,
    FEEDBACK: _feedback_reply,
    NUDGE: _nudge_reply,
}
"""Builds a pending push's reply at send time, or says why it no longer makes sense."""


def register_push_kind(kind: str, build: Callable[[JobDeps, Push, datetime], Reply | str]) -> None:
    """Let another feature's job record and deliver its own pushes (e.g. premium expiry reminders)."""
    _REPLIES[kind] = build


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


async def deliver_pending(deps: JobDeps, kind: str, now: datetime) -> int:
    """Send the pending pushes of ``kind`` that are due for an attempt; returns how many were sent."""
    store, stale = deps.store, now - CLAIM_TTL
    clock = _LocalClock(now)
    sent = 0
    for push in store.claimable_pushes(kind, now, stale):
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
            reply = _REPLIES[push.kind](deps, push, now)
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
                kind,
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
        if push.kind == QUIZ:
            item = store.quiz_item(push.item_id)
            if item is not None:
                deps.chat.expect_answer((push.platform, push.chat_id, ""), item)
        sent += 1
    return sent


# -- retention -------------------------------------------------------------------------------------

DELIVERY_WINDOW = timedelta(days=3)
"""How long a platform delivery id is remembered: Slack retries within minutes, Telegram keeps an
unconfirmed update for 24 hours; three days covers both with room to spare."""


async def prune_old_rows(deps: JobDeps, now: datetime) -> int:
    """Daily: delete logged questions older than the retention setting and old delivery ids."""
    removed = deps.store.prune_deliveries(now - DELIVERY_WINDOW)
    if deps.questions_retention_days > 0:
        removed += deps.store.prune_questions(now - timedelta(days=deps.questions_retention_days))
    return removed
