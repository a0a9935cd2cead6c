"""Scheduled learning jobs: due quizzes, the weekly progress feedback, nudges after a silence.

Each job is a plain ``async def job(deps, now)``; tests call it with a fixed ``now`` and
``bot/scheduler.py`` only wires triggers. Each plans its pushes, records them and delivers them
through the exactly-once machinery of :mod:`bot.jobs.pushes`. The daily retention job is here too.

Example:
    >>> deps = app.job_deps({"telegram": telegram_adapter})
    >>> await push_due_quizzes(deps, datetime.now(UTC))
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.chat.callbacks import course_data, lesson_data
from bot.jobs.pushes import (
    JobDeps,
    LocalClock,
    PlannedPush,
    PushKind,
    deliver_pending,
    in_active_hours,
    plan_and_record,
)
from bot.messages import Button, Reply
from bot.reviews import zone
from bot.store import Push
from bot.store.pushes import QuizPushState
from recommender.profile import build_profile
from recommender.recommend import weak_lessons

QUIZ, FEEDBACK, NUDGE = "quiz", "feedback", "nudge"


# -- due quizzes -----------------------------------------------------------------------------------


async def push_due_quizzes(deps: JobDeps, now: datetime) -> int:
    """Push each learner's most overdue review, paced (see :func:`plan_quiz_pushes`); returns sends."""
    await plan_and_record(deps, plan_quiz_pushes, now)
    return await deliver_pending(deps, QUIZ_PUSH, now)


IGNORED_BEFORE_BACKOFF = 3
"""Sent quiz pushes in a row without an answer, after which a learner gets one every other day at most."""
BACKOFF_DAYS = 2
PACING_WINDOW = timedelta(days=14)
"""How far back the pacing rules look at recorded pushes (the back-off needs the last few only)."""


def plan_quiz_pushes(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """At most one due quiz per learner: the most overdue card of a course they may get pushes from.

    Paced, so a backlog does not arrive as a burst: nothing new while a pushed quiz of the learner's
    day is unanswered (or one waits to be sent); at most ``max_pushes_per_day``; a card pushed on an
    earlier day and ignored is pushed again (under a new key, ``due|day``, so exactly once per day);
    after :data:`IGNORED_BEFORE_BACKOFF` ignored pushes in a row, every other day at most, until an answer.
    """
    if not deps.adapters:
        return []
    store, clock = deps.store, LocalClock(now)
    courses = {c.course_id: c for c in store.courses()}
    per_day = store.quiz_pushes_per_day(since=now - timedelta(days=2))
    states = store.quiz_push_states(since=now - PACING_WINDOW)
    chosen: dict[int, tuple[str, str, str]] = {}  # learner -> (item, due key, local day)
    for candidate in store.due_push_candidates(now):  # most overdue first
        learner = candidate.learner_id
        if learner in chosen:
            continue
        course = courses.get(candidate.course_id)
        if course is None or not store.may_see_course(learner, course, now):
            continue
        local = clock.local(candidate.hours.timezone)
        if not in_active_hours(candidate.hours, local):
            continue
        day = local.date()
        if per_day.get((learner, day.isoformat()), 0) >= deps.max_pushes_per_day:
            continue
        state = states.get(learner)
        if state is not None and not _may_push(state, day):
            continue
        key = f"{candidate.due}|{day.isoformat()}" if candidate.pushed else candidate.due
        chosen[learner] = (candidate.item_id, key, day.isoformat())
    chats = store.push_chats(list(chosen), list(deps.adapters))
    return [
        PlannedPush(QUIZ, learner, item, due, day, *chats[learner])
        for learner, (item, due, day) in chosen.items()
        if learner in chats
    ]


def _may_push(state: QuizPushState, today: date) -> bool:
    """The pacing rules, for one learner on their local ``today``."""
    if state.pending or state.open_day >= today.isoformat():
        return False  # one quiz at a time: the last one is not answered (or not even sent) yet
    if state.ignored >= IGNORED_BEFORE_BACKOFF and state.last_day:
        return (today - date.fromisoformat(state.last_day)).days >= BACKOFF_DAYS
    return True


def card_due_of(push: Push) -> str:
    """The card due time a quiz push was recorded for (a repeat's key carries its day too)."""
    return push.due.partition("|")[0]


def _quiz_reply(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    card = deps.store.review_card(push.learner_id, push.item_id)
    item = deps.store.quiz_item(push.item_id)
    if card is None or item is None or item.status != "approved":
        return "the item is no longer asked"
    course = deps.store.course(item.course_id)
    if course is None or not deps.store.may_see_course(push.learner_id, course, now):
        return "the learner has no access to the course now"
    if card.due != card_due_of(push):
        return "the card was reviewed since"
    today = now.astimezone(zone(deps.store.learner_settings(push.learner_id).timezone)).date()
    if push.local_day < today.isoformat():
        return "planned for an earlier day; the plan offers the card again today"
    return deps.chat.quiz_reply(item, heading="Time to review")


# -- weekly feedback -------------------------------------------------------------------------------


async def progress_feedback(deps: JobDeps, now: datetime) -> int:
    """Each learner's summary of last week, once a week, early in their local week; returns sends.

    Run it hourly: a learner gets it at the first run in their own week (normally Monday, when their
    active hours begin), provided they enrolled before that week began.
    """
    await plan_and_record(deps, plan_feedback, now)
    return await deliver_pending(deps, FEEDBACK_PUSH, now)


def week_start(local: datetime) -> date:
    """The Monday of a local time's week."""
    return local.date() - timedelta(days=local.weekday())


def plan_feedback(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """Learners whose feedback for this local week is not recorded yet and whose hours are open."""
    if not deps.adapters:
        return []
    clock = LocalClock(now)
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
        (c.course_id, row.lesson_id): row.title for c in store.courses() for row in store.lessons(c.course_id)
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
    weak = weak_lessons(build_profile(store, learner_id, now), titles)
    if weak:  # named even in a week with no answers: what they got wrong before is still weak
        lines.append("Worth a review: " + "; ".join(f"{title} ({why})" for _, title, why in weak))
    return _with_next_steps(deps, learner_id, "\n".join(lines), due, {key for key, _, _ in weak})


def _with_next_steps(
    deps: JobDeps, learner_id: int, text: str, due: int, named: set[tuple[str, str]] | None = None
) -> Reply:
    """``text`` with the next lesson named and buttons to open it and to practise what is due.

    ``named``: lessons the text already suggests reviewing (not suggested twice).
    """
    upcoming = deps.chat.loop.next_lesson(learner_id)
    buttons: list[Button] = []
    recs = [r for r in deps.recommend(learner_id, deps.chat.now()) if not r.locked] if deps.recommend else []
    ahead = next((r for r in recs if r.kind != "review"), None)
    if ahead is not None:  # the recommender's next lesson, with its reason (and a weak lesson to review)
        course = deps.store.course(ahead.course_id)
        course_title = course.title if course else ahead.course_id
        text += f"\nNext lesson: {ahead.title} ({course_title}). Why: {ahead.reason}."
        review = next(
            (r for r in recs if r.kind == "review" and (r.course_id, r.lesson_id) not in (named or set())),
            None,
        )
        if review is not None:
            text += f"\nWorth a review first: {review.title} ({review.reason})."
        buttons.append(Button("Next lesson", lesson_data("open", ahead.course_id, ahead.lesson_id)))
    elif upcoming is not None:
        course, lesson = upcoming
        text += f"\nNext lesson: {lesson.title} ({course.title})."
        buttons.append(Button("Next lesson", course_data("lesson", course.course_id)))
    else:
        text += "\nYou have finished every lesson of your courses."
    if due:
        buttons.append(Button("Review now", "quiz:next"))
    return Reply(text, buttons=[buttons] if buttons else [])


# -- nudges ----------------------------------------------------------------------------------------


async def nudge_inactive(deps: JobDeps, now: datetime) -> int:
    """A gentle reminder after ``nudge_after_days`` of silence, once per silence; returns sends."""
    await plan_and_record(deps, plan_nudges, now)
    return await deliver_pending(deps, NUDGE_PUSH, now)


def plan_nudges(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """Enrolled learners silent for long enough, not nudged for this silence, in their active hours."""
    if not deps.adapters:
        return []
    clock = LocalClock(now)
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


def _expect_answer(deps: JobDeps, push: Push) -> None:
    """A pushed quiz's answer may come as plain text: the chat waits for it."""
    item = deps.store.quiz_item(push.item_id)
    if item is not None:
        deps.chat.expect_answer((push.platform, push.chat_id, ""), item)


QUIZ_PUSH = PushKind(QUIZ, _quiz_reply, sent=_expect_answer)
FEEDBACK_PUSH = PushKind(FEEDBACK, _feedback_reply)
NUDGE_PUSH = PushKind(NUDGE, _nudge_reply)


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
