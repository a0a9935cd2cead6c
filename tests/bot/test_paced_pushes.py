"""Paced quiz pushes: one open quiz at a time, ignored ones come back, back-off, still exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.chat.learning import LearningChat
from bot.jobs.learning import push_due_quizzes
from bot.jobs.pushes import JobDeps
from bot.learning import LearningLoop
from bot.store import Store
from bot.testing import FakeAdapter, TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
COURSE = "security-basics"
MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # before the default active hours, 9-21 UTC
DAY = timedelta(days=1)


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter("test")


@pytest.fixture
def backlog(tmp_path) -> TestBot:
    """A learner with three quiz items answered wrong at 08:00 Monday: three reviews due from 08:01."""
    testbot = TestBot.build(tmp_path / "data").at(MONDAY)
    testbot.ingest(SAMPLES / COURSE)
    testbot.say("/enroll security-basics")
    loop, me = testbot.app.bot.learning.loop, learner(testbot)
    for item in testbot.app.store.quiz_items(COURSE)[:3]:
        loop.answer(me, item.item_id, (item.answer + 1) % len(item.options), MONDAY)
    return testbot


def learner(testbot: TestBot) -> int:
    return testbot.app.store.learner_for("test", testbot.user)


def run(testbot: TestBot, adapter: FakeAdapter, now: datetime) -> int:
    return asyncio.run(push_due_quizzes(testbot.app.job_deps({adapter.platform: adapter}), now))


def run_day(testbot: TestBot, adapter: FakeAdapter, day: datetime) -> int:
    """The job every half hour through one day's active hours (09:00-21:00 UTC); returns sends."""
    start = day.replace(hour=9, minute=0)
    return sum(run(testbot, adapter, start + timedelta(minutes=30 * n)) for n in range(25))


def question(reply) -> str:
    return reply.text.splitlines()[2]


def test_no_new_push_while_the_pushed_quiz_is_unanswered(backlog, adapter):
    sent = [run(backlog, adapter, MONDAY.replace(hour=9) + timedelta(minutes=15 * n)) for n in range(4)]
    assert sent == [1, 0, 0, 0], "a backlog of three does not arrive as three quizzes in 45 minutes"
    first = adapter.sent[0][1]
    backlog.at(MONDAY.replace(hour=10)).press(first.buttons[0][0].data)
    assert run(backlog, adapter, MONDAY.replace(hour=10, minute=15)) == 1, "answered: the next may come"
    assert question(adapter.sent[1][1]) != question(first)
    assert run_day(backlog, adapter, MONDAY) == 0, "that one waits for an answer too"


def test_an_ignored_quiz_comes_back_on_a_later_day_once(backlog, adapter):
    assert run_day(backlog, adapter, MONDAY) == 1
    ignored = question(adapter.sent[0][1])
    tuesday = MONDAY + DAY
    assert run_day(backlog, adapter, tuesday) == 1, "pushed again, once, the next day"
    assert question(adapter.sent[1][1]) == ignored, "the ignored item comes back, not a new one"
    rows = backlog.app.store.pushes(learner(backlog))
    assert [r.status for r in rows] == ["sent", "sent"]
    assert rows[1].due == f"{rows[0].due}|2026-03-03", "a repeat has a key of its own"
    backlog.at(tuesday.replace(hour=22)).say("1")  # a number answers the pushed quiz
    assert run_day(backlog, adapter, tuesday + DAY) == 1
    assert question(adapter.sent[2][1]) != ignored


def test_overlapping_runs_send_a_repeat_once(backlog, adapter):
    run_day(backlog, adapter, MONDAY)
    tuesday = MONDAY.replace(hour=10) + DAY
    other = Store(backlog.app.settings.database_path)  # a second process: its own connection and worker
    second = JobDeps(other, LearningChat(other, LearningLoop(other)), {adapter.platform: adapter})

    async def both() -> list[int]:
        deps = backlog.app.job_deps({adapter.platform: adapter})
        return await asyncio.gather(push_due_quizzes(deps, tuesday), push_due_quizzes(second, tuesday))

    assert sum(asyncio.run(both())) == 1 and len(adapter.sent) == 2


def test_a_push_left_pending_from_an_earlier_day_is_not_sent_next_to_its_repeat(backlog, adapter):
    adapter.failures = 100
    assert run(backlog, adapter, MONDAY.replace(hour=20, minute=30)) == 0
    [row] = backlog.app.store.pushes()
    assert row.status == "pending"
    adapter.failures = 0
    tuesday = MONDAY.replace(hour=10) + DAY
    assert run(backlog, adapter, tuesday) == 0, "Monday's push is dropped, not sent on Tuesday"
    assert run(backlog, adapter, tuesday + timedelta(minutes=30)) == 1, "Tuesday's own push of the card"
    assert [r.status for r in backlog.app.store.pushes()] == ["expired", "sent"]
    assert len(adapter.sent) == 1


def test_back_off_after_three_ignored_pushes_until_an_answer(backlog, adapter):
    sends = [run_day(backlog, adapter, MONDAY + n * DAY) for n in range(6)]  # Monday to Saturday
    assert sends == [1, 1, 1, 0, 1, 0], "after three ignored days: every other day"
    saturday = MONDAY + 5 * DAY
    backlog.at(saturday.replace(hour=12)).press(adapter.sent[-1][1].buttons[0][0].data)
    assert run(backlog, adapter, saturday.replace(hour=12, minute=30)) == 1, "an answer resets the back-off"
    backlog.at(saturday.replace(hour=13)).press(adapter.sent[-1][1].buttons[0][0].data)
    assert run_day(backlog, adapter, MONDAY + 6 * DAY) == 1, "Sunday: daily again"


def test_the_pushed_flag_belongs_to_the_most_overdue_card_of_the_course(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(MONDAY)
    testbot.ingest(SAMPLES / COURSE)
    testbot.say("/enroll security-basics")
    store, me = testbot.app.store, learner(testbot)
    older, newer = store.quiz_items(COURSE)[:2]
    loop = testbot.app.bot.learning.loop
    loop.answer(me, older.item_id, (older.answer + 1) % len(older.options), MONDAY)
    loop.answer(me, newer.item_id, (newer.answer + 1) % len(newer.options), MONDAY + timedelta(minutes=5))
    now = MONDAY + timedelta(hours=2)

    def candidate():
        [found] = store.due_push_candidates(now)
        return found.item_id, found.pushed

    def pushed(item_id: str) -> None:
        due = store.review_card(me, item_id).due
        store.record_push(
            kind="quiz", learner_id=me, item_id=item_id, due=due, local_day="2026-03-02",
            platform="test", chat_id="chat-1", at=now,
        )  # fmt: skip

    assert candidate() == (older.item_id, False)
    pushed(newer.item_id)
    assert candidate() == (older.item_id, False), "a push of another card is not this card's"
    pushed(older.item_id)
    assert candidate() == (older.item_id, True)
