"""Scheduled jobs with a fixed clock: due quizzes, exactly once, active hours, caps, feedback, nudges."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bot.jobs.learning as jobs
import bot.jobs.pushes as pushes
from bot.chat.learning import LearningChat
from bot.jobs.learning import nudge_inactive, progress_feedback, push_due_quizzes
from bot.jobs.pushes import JobDeps
from bot.learning import LearningLoop
from bot.messages import IncomingMessage
from bot.store import Store, quiz_item_id
from bot.testing import FakeAdapter, TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
COURSE = "security-basics"
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # inside the default active hours, 9-21 UTC
URGENCY = "Which of these is a common sign of phishing?"
URGENCY_ID = quiz_item_id(COURSE, "phishing", URGENCY)
QUARTER = timedelta(minutes=15)


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    bot = TestBot.build(tmp_path / "data")
    bot.ingest(SAMPLES / COURSE)
    return bot.at(MONDAY)


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter("test")


def deps_for(testbot: TestBot, adapter: FakeAdapter) -> JobDeps:
    return testbot.app.job_deps({adapter.platform: adapter})


def another_process(testbot: TestBot, adapter: FakeAdapter) -> JobDeps:
    """The jobs as a restarted (or second) process sees them: its own connection, its own worker id."""
    store = Store(testbot.app.settings.database_path)
    return JobDeps(store, LearningChat(store, LearningLoop(store)), {adapter.platform: adapter})


def learner(testbot: TestBot) -> int:
    return testbot.app.store.learner_for("test", testbot.user)


def answer_first_quiz(testbot: TestBot, at: datetime, option: int = 0) -> None:
    """Enroll, open lesson 1 and answer its first question at ``at`` (option 0 is right: due +10 min)."""
    testbot.at(at)
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    quiz = testbot.say("/quiz")
    assert URGENCY in quiz.text
    testbot.press(quiz.buttons[option][0].data)


def push(deps: JobDeps, now: datetime) -> int:
    return asyncio.run(push_due_quizzes(deps, now))


def ticks(start: datetime, end: datetime, step: timedelta = QUARTER):
    moment = start
    while moment <= end:
        yield moment
        moment += step


def test_the_next_review_is_pushed_at_its_fsrs_due_time(testbot, adapter):
    answer_first_quiz(testbot, MONDAY)
    card = testbot.app.store.review_card(learner(testbot), URGENCY_ID)
    assert card.due == (MONDAY + timedelta(minutes=10)).isoformat(), "FSRS: first learning step"
    deps = deps_for(testbot, adapter)

    assert push(deps, MONDAY) == 0, "not due yet"
    assert push(deps, MONDAY + QUARTER) == 1, "the first run after the due time sends it"
    chat_id, reply = adapter.sent[0]
    assert chat_id == "chat-1"
    assert reply.text.startswith("Time to review: Recognising phishing") and URGENCY in reply.text
    assert [row[0].data for row in reply.buttons] == [f"quiz:{URGENCY_ID}:{n}" for n in range(3)]
    [row] = testbot.app.store.pushes(learner(testbot))
    assert (row.kind, row.item_id, row.due, row.status) == ("quiz", URGENCY_ID, card.due, "sent")

    assert push(deps, MONDAY + 2 * QUARTER) == 0, "one push per due time"
    testbot.at(MONDAY + 2 * QUARTER)
    assert testbot.say("1").text.startswith("Right!"), "a number answers the pushed quiz, as after /quiz"
    assert testbot.app.generator.calls == []


def test_a_review_due_in_quiet_hours_waits_for_the_learners_hours(testbot, adapter):
    testbot.say("/settings tz Asia/Tokyo")
    testbot.say("/settings hours 8-21")
    # 17:50 UTC on Sunday is 02:50 on Monday in Tokyo: the card falls due at 03:00 local time.
    answer_first_quiz(testbot, datetime(2026, 3, 1, 17, 50, tzinfo=UTC))
    deps = deps_for(testbot, adapter)
    sent_at = [t for t in ticks(datetime(2026, 3, 1, 18, 0, tzinfo=UTC), MONDAY) if push(deps, t)]
    assert sent_at == [datetime(2026, 3, 1, 23, 0, tzinfo=UTC)], "08:00 in Tokyo, when the hours open"
    assert len(adapter.sent) == 1


def test_a_crash_between_record_and_send_sends_once_after_the_restart(testbot, adapter, monkeypatch):
    answer_first_quiz(testbot, MONDAY)
    due = MONDAY + QUARTER

    async def crash(*args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(jobs, "deliver_pending", crash)
    with pytest.raises(RuntimeError):
        push(deps_for(testbot, adapter), due)
    monkeypatch.undo()
    [row] = testbot.app.store.pushes()
    assert (row.status, row.claimed_by, adapter.sent) == ("pending", "", [])

    restarted = another_process(testbot, adapter)
    assert push(restarted, due + QUARTER) == 1, "the pending row is delivered"
    assert push(restarted, due + 2 * QUARTER) == 0
    assert push(deps_for(testbot, adapter), due + 3 * QUARTER) == 0
    assert len(adapter.sent) == 1 and testbot.app.store.pushes()[0].status == "sent"


def test_a_push_claimed_by_a_worker_that_died_is_taken_over_later(testbot, adapter):
    answer_first_quiz(testbot, MONDAY)
    due = MONDAY + QUARTER
    store = testbot.app.store
    pushes.record(deps_for(testbot, adapter), jobs.plan_quiz_pushes(deps_for(testbot, adapter), due), due)
    [row] = store.pushes()
    assert store.claim_push(row.id, "dead-worker", due, due - pushes.CLAIM_TTL)
    assert push(another_process(testbot, adapter), due + timedelta(minutes=5)) == 0, "its claim is fresh"
    assert push(another_process(testbot, adapter), due + QUARTER) == 1, "a stale claim is taken over"
    assert len(adapter.sent) == 1


def test_a_failed_send_stays_pending_and_is_retried_later(testbot, adapter):
    answer_first_quiz(testbot, MONDAY)
    deps = deps_for(testbot, adapter)
    adapter.failures = 2
    due = MONDAY + QUARTER
    assert push(deps, due) == 0
    [row] = testbot.app.store.pushes()
    assert (row.status, row.attempts) == ("pending", 1) and "ConnectionError" in row.last_error
    assert push(deps, due + QUARTER) == 0, "retried on the next run, fails again"
    assert testbot.app.store.pushes()[0].attempts == 2
    assert push(deps, due + 2 * QUARTER) == 0, "backing off: 20 minutes after the second failure"
    assert push(deps, due + 3 * QUARTER) == 1
    [row] = testbot.app.store.pushes()
    assert (row.status, row.attempts, len(adapter.sent)) == ("sent", 2, 1)
    assert push(deps, due + 4 * QUARTER) == 0


def test_two_overlapping_runs_send_each_push_once(testbot, adapter):
    answer_first_quiz(testbot, MONDAY)
    answer_first_quiz(TestBot(testbot.app, user="learner-2"), MONDAY)
    due = MONDAY + QUARTER

    async def both() -> list[int]:
        return await asyncio.gather(
            push_due_quizzes(deps_for(testbot, adapter), due),
            push_due_quizzes(another_process(testbot, adapter), due),
        )

    assert sum(asyncio.run(both())) == 2
    assert sorted(chat for chat, _ in adapter.sent) == ["chat-1", "chat-1"]
    assert {p.learner_id for p in testbot.app.store.pushes()} == {1, 2} and len(adapter.sent) == 2


def test_a_paused_learner_gets_nothing_until_they_resume(testbot, adapter):
    answer_first_quiz(testbot, MONDAY)
    testbot.say("/pause")
    deps = deps_for(testbot, adapter)
    later = MONDAY + timedelta(days=8)
    assert push(deps, MONDAY + QUARTER) == 0
    assert asyncio.run(nudge_inactive(deps, later)) == 0
    assert asyncio.run(progress_feedback(deps, datetime(2026, 3, 9, 9, 0, tzinfo=UTC))) == 0
    assert adapter.sent == [] and testbot.app.store.pushes() == []
    testbot.at(MONDAY + 2 * QUARTER).say("/resume")
    assert push(deps, MONDAY + 2 * QUARTER) == 1


def test_at_most_n_quiz_pushes_a_day(tmp_path, adapter):
    testbot = TestBot.build(tmp_path / "data", max_pushes_per_day=2).at(MONDAY)
    testbot.ingest(SAMPLES / COURSE)
    testbot.say("/enroll security-basics")
    loop, me = testbot.app.bot.learning.loop, learner(testbot)
    for item in testbot.app.store.quiz_items(COURSE)[:5]:
        loop.answer(me, item.item_id, (item.answer + 1) % len(item.options), MONDAY)  # wrong: due +1 min
    deps = deps_for(testbot, adapter)
    assert deps.max_pushes_per_day == 2, "from LEARNBOT_MAX_PUSHES_PER_DAY"

    def answered_pushes(start: datetime, end: datetime) -> int:
        """Run the job every quarter hour; the learner answers each push at once (so pacing allows more)."""
        sent = 0
        for t in ticks(start, end):
            if push(deps, t):
                sent += 1
                testbot.at(t).press(adapter.sent[-1][1].buttons[0][0].data)
        return sent

    monday = answered_pushes(MONDAY + QUARTER, MONDAY.replace(hour=23))
    tuesday = answered_pushes(MONDAY + timedelta(hours=23), MONDAY + timedelta(days=1, hours=12))
    assert (monday, tuesday) == (2, 2)
    assert len({reply.text for _, reply in adapter.sent}) == 4, "four different questions"


def test_pushes_go_to_the_latest_direct_chat_never_a_channel(testbot, adapter):
    answer_first_quiz(testbot, MONDAY)
    channel = IncomingMessage("test", testbot.user, "C-general", "/progress", direct=False)
    asyncio.run(testbot.app.bot.handle(channel))
    assert push(deps_for(testbot, adapter), MONDAY + QUARTER) == 1
    assert adapter.sent[0][0] == "chat-1"
    other_platform = FakeAdapter("slack")
    assert push(testbot.app.job_deps({"slack": other_platform}), MONDAY + 2 * QUARTER) == 0, "no chat there"


def test_premium_courses_are_never_pushed(tmp_path, adapter):
    course = tmp_path / "gold"
    course.mkdir()
    (course / "course.toml").write_text('id = "gold"\ntitle = "Gold"\npremium = true\n')
    (course / "01-bars.md").write_text(
        "---\ntitle: Bars\nquiz:\n  - question: What are bars made of?\n"
        '    options: ["Gold", "Tin"]\n    answer: 0\n---\n# Bars\n\nGold bars are made of gold.\n'
    )
    testbot = TestBot.build(tmp_path / "data").at(MONDAY)
    testbot.ingest(course)
    testbot.say("/start")
    item = testbot.app.store.quiz_items("gold")[0]
    store = testbot.app.store
    store.grant(learner(testbot), "", None, MONDAY)  # entitled while answering, then no longer
    testbot.app.bot.learning.loop.answer(learner(testbot), item.item_id, 1, MONDAY)
    store.revoke(learner(testbot), "", MONDAY)
    assert testbot.app.store.due_cards(MONDAY + QUARTER), "the card is due"
    assert push(deps_for(testbot, adapter), MONDAY + QUARTER) == 0, "may_see_course says no"


def test_a_nudge_after_k_days_of_silence_once_per_silence(testbot, adapter):
    testbot.say("/enroll security-basics")
    deps = deps_for(testbot, adapter)
    assert deps.nudge_after_days == 7

    def nudge(at: datetime) -> int:
        return asyncio.run(nudge_inactive(deps, at))

    assert nudge(MONDAY + timedelta(days=6, hours=23)) == 0
    assert nudge(MONDAY + timedelta(days=7, hours=-8)) == 0, "02:00 UTC: quiet hours"
    assert nudge(MONDAY + timedelta(days=7)) == 1
    text = adapter.sent[0][1].text
    assert "It has been 7 days since we last talked" in text and "Next lesson: Recognising phishing" in text
    assert "/pause" in text and adapter.sent[0][1].buttons[0][0].label == "Next lesson"
    assert nudge(MONDAY + timedelta(days=7, hours=1)) == 0
    assert nudge(MONDAY + timedelta(days=12)) == 0, "once per silence"
    testbot.at(MONDAY + timedelta(days=13)).say("/lesson")
    assert nudge(MONDAY + timedelta(days=19)) == 0
    assert nudge(MONDAY + timedelta(days=20)) == 1, "a new silence, a new nudge"
    assert len(adapter.sent) == 2


def test_weekly_feedback_sums_up_last_week_in_each_learners_monday(testbot, adapter):
    testbot.say("/enroll security-basics")
    tokyo = TestBot(testbot.app, user="learner-2").at(MONDAY)
    tokyo.say("/settings tz Asia/Tokyo")
    tokyo.say("/enroll security-basics")
    tuesday = MONDAY + timedelta(days=1)
    testbot.at(tuesday)
    testbot.say("/lesson")
    testbot.say("/done")  # Recognising phishing
    testbot.press(testbot.say("/quiz").buttons[0][0].data)  # right
    testbot.press(testbot.say("/quiz").buttons[0][0].data)  # the link question: wrong
    deps = deps_for(testbot, adapter)

    def feedback(at: datetime) -> list[str]:
        before = len(adapter.sent)
        asyncio.run(progress_feedback(deps, at))
        return [reply.text for _, reply in adapter.sent[before:]]

    assert feedback(MONDAY + timedelta(hours=1)) == [], "they enrolled this week"
    assert len(feedback(datetime(2026, 3, 9, 0, 0, tzinfo=UTC))) == 1, "09:00 Monday in Tokyo"
    assert feedback(datetime(2026, 3, 9, 8, 0, tzinfo=UTC)) == [], "08:00 UTC: before the UTC learner's hours"
    [text] = feedback(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    assert text.startswith("Your week in review (02 Mar - 08 Mar):")
    assert "- Finished: Recognising phishing" in text
    assert "- Security Basics for Employees: 1 of 6 lessons done" in text
    assert "- Quiz answers: 2, 50% right" in text
    assert "- Reviews due now: 2" in text
    assert "Next lesson: Passwords and password managers (Security Basics for Employees)." in text
    labels = [b.label for b in adapter.sent[-1][1].buttons[0]]
    assert labels == ["Next lesson", "Review now"]
    assert feedback(datetime(2026, 3, 9, 10, 0, tzinfo=UTC)) == [], "once a week"
    assert feedback(datetime(2026, 3, 12, 10, 0, tzinfo=UTC)) == []
    [_, text] = feedback(datetime(2026, 3, 16, 9, 0, tzinfo=UTC))  # both: Tokyo's Monday began at 15:00 UTC
    assert "- Finished: no lessons this week" in text and "- Quiz answers: none this week" in text


def test_the_chat_is_recorded_for_every_message(testbot):
    testbot.say("hello")
    testbot.at(MONDAY + timedelta(hours=1)).say("/help", platform="slack", chat="D1")
    store = testbot.app.store
    assert store.chats(store.learner_for("test", testbot.user))[0]["chat_id"] == "chat-1"
    slack = store.learner_for("slack", testbot.user)
    assert store.last_active(slack) == (MONDAY + timedelta(hours=1)).isoformat()


@pytest.mark.integration
async def test_a_pushed_quiz_arrives_in_telegram_with_an_inline_keyboard(tmp_path):
    from adapters.fakes.telegram import TOKEN, FakeTelegram, callback_update, text_update, user
    from adapters.telegram import TelegramAdapter

    testbot = TestBot.build(tmp_path / "data")
    testbot.ingest(SAMPLES / COURSE)
    testbot.at(MONDAY)
    ada = user(42, "Ada")
    async with FakeTelegram() as server:
        telegram = TelegramAdapter(testbot.app.bot, token=TOKEN, api_url=server.root, poll_timeout=1)
        await telegram.start()
        try:
            for n, text in enumerate(["/enroll security-basics", "/lesson", "/quiz"], 1):
                server.push(text_update(ada, text))
                await server.wait_for("sendMessage", n)
            keyboard = server.calls_to("sendMessage")[-1].params["reply_markup"]["inline_keyboard"]
            server.push(callback_update(ada, keyboard[0][0]["callback_data"]))
            answered = await server.wait_for("sendMessage", 4)
            assert answered[-1].params["text"].startswith("Right!")

            deps = testbot.app.job_deps({"telegram": telegram})
            assert await push_due_quizzes(deps, MONDAY + QUARTER) == 1
            pushed = (await server.wait_for("sendMessage", 5))[-1].params
        finally:
            await telegram.stop()
    assert str(pushed["chat_id"]) == "42"
    assert "Time to review" in pushed["text"] and URGENCY in pushed["text"]
    rows = pushed["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in rows] == [f"quiz:{URGENCY_ID}:{n}" for n in range(3)]


async def test_the_scheduler_keeps_its_jobs_in_the_sqlite_file_across_restarts(testbot, adapter):
    from apscheduler.events import EVENT_JOB_EXECUTED

    from bot.scheduler import LearningScheduler

    database = testbot.app.settings.database_path
    url = f"sqlite:///{database}"
    deps = deps_for(testbot, adapter)
    ids = [
        "learnbot.nudge_inactive",
        "learnbot.premium_expiry",
        "learnbot.progress_feedback",
        "learnbot.prune_old_rows",
        "learnbot.push_due_quizzes",
        "learnbot.send_digests",
    ]

    def stored() -> list[str]:
        with sqlite3.connect(database) as db:
            return sorted(row[0] for row in db.execute("select id from apscheduler_jobs"))

    first = LearningScheduler(deps, url)
    await first.start(paused=True)
    assert sorted(job.id for job in first.jobs()) == ids and stored() == ids
    now = datetime.now(UTC)
    quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    missed = quarter - timedelta(minutes=45)  # three or four 15-minute runs missed while "down"
    first.scheduler.modify_job("learnbot.push_due_quizzes", next_run_time=missed)
    await first.stop()

    second = LearningScheduler(deps, url)
    runs: list[str] = []
    second.scheduler.add_listener(lambda event: runs.append(event.job_id), EVENT_JOB_EXECUTED)
    await second.start()
    try:
        for _ in range(1500):  # a deadline, not a timing: up to 30 s on a loaded machine
            if runs:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert runs.count("learnbot.push_due_quizzes") == 1, "the missed runs coalesce into one"
        assert stored() == ids, "re-registered under the same ids, not duplicated"
        push_job = second.scheduler.get_job("learnbot.push_due_quizzes")
        assert push_job.next_run_time > datetime.now(UTC) and push_job.next_run_time.minute % 15 == 0
        assert push_job.coalesce and push_job.misfire_grace_time == 900
    finally:
        await second.stop()
    assert stored() == ids


def test_planning_runs_off_the_event_loop_so_a_chat_is_answered_meanwhile(testbot, adapter, monkeypatch):
    """A plan that cannot finish until the loop has answered a chat message: it finishes, so the loop ran."""
    answer_first_quiz(testbot, MONDAY)
    due = MONDAY + QUARTER
    real_plan, store = jobs.plan_quiz_pushes, testbot.app.store
    answered, seen = threading.Event(), {}

    async def run() -> tuple[int, list]:
        loop, planning = asyncio.get_running_loop(), asyncio.Event()

        def slow_plan(deps: JobDeps, now: datetime) -> list:
            seen["thread"] = threading.get_ident()
            seen["own_connection"] = deps.store.db.conn is not store.db.conn
            loop.call_soon_threadsafe(planning.set)
            seen["answered_meanwhile"] = answered.wait(timeout=10)  # a safety net, not a measurement
            return real_plan(deps, now)

        monkeypatch.setattr(jobs, "plan_quiz_pushes", slow_plan)
        job = asyncio.create_task(push_due_quizzes(deps_for(testbot, adapter), due))
        await planning.wait()
        replies = await testbot.app.bot.handle(IncomingMessage("test", "learner-2", "chat-2", "/help"))
        answered.set()
        return await job, replies

    sent, replies = asyncio.run(run())
    monkeypatch.undo()
    assert seen["answered_meanwhile"], "the chat was answered while the plan was running"
    assert seen["thread"] != threading.get_ident() and seen["own_connection"]
    assert replies and replies[0].text, "the chat got its reply"
    assert sent == 1 and [chat for chat, _ in adapter.sent] == ["chat-1"]
    assert push(deps_for(testbot, adapter), due + QUARTER) == 0, "still exactly once"
    chatter = store.learner_for("test", "learner-2")
    assert store.push_chats([chatter], ["test"]) == {chatter: ("test", "chat-2")}, "the chat's write landed"


def test_recording_in_small_batches_from_overlapping_runs_still_sends_each_push_once(
    testbot, adapter, monkeypatch
):
    monkeypatch.setattr(pushes, "RECORD_BATCH", 1)
    for user in ("learner-1", "learner-2", "learner-3"):
        answer_first_quiz(TestBot(testbot.app, user=user), MONDAY)
    due = MONDAY + QUARTER

    async def both() -> list[int]:
        return await asyncio.gather(
            push_due_quizzes(deps_for(testbot, adapter), due),
            push_due_quizzes(another_process(testbot, adapter), due),
        )

    assert sum(asyncio.run(both())) == 3
    assert len(testbot.app.store.pushes()) == 3 and len(adapter.sent) == 3
