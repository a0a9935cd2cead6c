"""The learning loop in chat: enroll, lessons, done, quizzes with FSRS cards, progress, settings."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fsrs import Card, Rating, Scheduler, State
from rich.console import Console

from adapters.console import ConsoleAdapter
from bot.store import quiz_item_id
from bot.testing import TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
COURSE = "security-basics"
URGENCY = "Which of these is a common sign of phishing?"


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    bot = TestBot.build(tmp_path / "data")
    bot.ingest(SAMPLES / COURSE)
    return bot.at(NOW)


def learner(testbot: TestBot) -> int:
    return testbot.app.store.learner_for("test", testbot.user)


def option_button(reply, index: int) -> str:
    return reply.buttons[index][0].data


def test_enroll_lesson_done_and_next_lesson_in_order(testbot):
    assert "not enrolled" in testbot.say("/lesson").text
    assert "enrolled in Security Basics" in testbot.say("/enroll security-basics").text
    assert "already enrolled" in testbot.say("/enroll Security Basics for Employees").text
    assert "(enrolled)" in testbot.say("/courses").text

    first = testbot.say("/lesson")
    assert "Lesson 1 of 6" in first.text and "Recognising phishing" in first.text
    assert "about 10 minutes" in first.text
    assert "Spot the common signs of a phishing email" in first.text, "objectives are listed"
    assert "Phishing is an attempt to trick you" in first.text, "the lesson's own text, not a pointer to it"
    assert first.citations[0].lesson_id == "phishing" and first.citations[0].source_path == "01-phishing.md"
    assert [b.label for row in first.buttons for b in row] == ["Next section"]
    assert "Recognising phishing" in testbot.say("/lesson").text, "the opened lesson stays current until done"

    done = testbot.press("done:security-basics:phishing")
    assert "Done: Recognising phishing (1 of 6" in done.text and "Next: Passwords" in done.text
    assert "done already" in testbot.press("done:security-basics:phishing").text
    assert "not enrolled in 'cooking'" in testbot.say("/lesson cooking").text
    second = testbot.say("/lesson")
    assert "Lesson 2 of 6" in second.text and "Passwords and password managers" in second.text
    assert "Done: Passwords" in testbot.say("/done").text
    assert "Multi-factor authentication" in testbot.say("/lesson").text

    kinds = [(e["lesson_id"], e["kind"]) for e in testbot.app.store.progress_events(learner(testbot))]
    assert kinds == [
        ("phishing", "started"),
        ("phishing", "done"),
        ("passwords", "started"),
        ("passwords", "done"),
        ("mfa", "started"),
    ], "progress is an append-only log of events"


def test_next_lesson_waits_for_prerequisites(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(SAMPLES / COURSE, course)
    toml = (course / "course.toml").read_text()
    # Put "remote-work" (needs mfa and data-handling) first in the course order.
    blocks = toml.split("[[lessons]]")
    remote = next(b for b in blocks if 'id = "remote-work"' in b)
    blocks.remove(remote)
    (course / "course.toml").write_text("[[lessons]]".join([blocks[0], remote, *blocks[1:]]))
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(course)
    testbot.say("/enroll security-basics")
    assert "Recognising phishing" in testbot.say("/lesson").text, "remote-work comes first but is locked"
    loop = testbot.app.bot.learning.loop
    for lesson in ("phishing", "passwords", "mfa"):
        loop.mark_done(learner(testbot), COURSE, lesson, NOW)
    assert loop.next_lesson(learner(testbot))[1].lesson_id == "data-handling"
    loop.mark_done(learner(testbot), COURSE, "data-handling", NOW)
    assert loop.next_lesson(learner(testbot))[1].lesson_id == "remote-work", "unlocked once both are done"


def test_quiz_right_answer_stores_an_fsrs_card_due_later(testbot):
    testbot.say("/enroll security-basics")
    assert "open a lesson" in testbot.say("/quiz").text, "no questions before a lesson is studied"
    testbot.say("/lesson")
    quiz = testbot.say("/quiz")
    assert URGENCY in quiz.text and "1. An unexpected sense of urgency" in quiz.text
    item_id = quiz_item_id(COURSE, "phishing", URGENCY)
    assert option_button(quiz, 0) == f"quiz:{item_id}:0"

    reply = testbot.press(option_button(quiz, 0))
    assert reply.text.startswith("Right!") and "act before you think" in reply.text
    assert reply.citations[0].lesson_id == "phishing"
    assert "Urgency and pressure" in reply.citations[0].heading, "the explanation's section is cited"
    assert [b.label for b in reply.buttons[0]] == ["Easy", "Hard"]

    store = testbot.app.store
    stored = store.review_card(learner(testbot), item_id)
    card = Card.from_dict(stored.card)
    expected, _ = Scheduler(desired_retention=0.9).review_card(Card(due=NOW), Rating.Good, NOW)
    assert card.due == expected.due == NOW + timedelta(minutes=10), "FSRS's first learning step"
    assert card.state == State.Learning and card.last_review == NOW
    assert stored.due == (NOW + timedelta(minutes=10)).isoformat()
    assert "in 10 minutes" in reply.text
    attempt = store.attempts(learner(testbot))[-1]
    assert (attempt.chosen, attempt.correct, attempt.rating) == (0, True, int(Rating.Good))

    assert "answered this one already" in testbot.press(option_button(quiz, 1)).text, "no second review early"
    easy = testbot.press(reply.buttons[0][0].data)
    assert "Noted: easy" in easy.text
    rerated = Card.from_dict(store.review_card(learner(testbot), item_id).card)
    assert rerated.state == State.Review and rerated.due - NOW >= timedelta(days=2)
    assert store.attempts(learner(testbot))[-1].rating == int(Rating.Easy), "the tap changes that attempt"
    testbot.press(reply.buttons[0][1].data)
    hard = Card.from_dict(store.review_card(learner(testbot), item_id).card)
    assert hard.due < rerated.due and store.attempts(learner(testbot))[-1].rating == int(Rating.Hard)


def test_wrong_answer_is_again_and_comes_back_first_when_due(testbot):
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    quiz = testbot.say("/quiz")
    reply = testbot.press(option_button(quiz, 2))
    assert reply.text.startswith("Not quite. The answer is: An unexpected sense of urgency.")
    assert all(b.label != "Easy" for row in reply.buttons for b in row), "no easy/hard after a wrong answer"
    item_id = quiz_item_id(COURSE, "phishing", URGENCY)
    card = Card.from_dict(testbot.app.store.review_card(learner(testbot), item_id).card)
    assert card.due == NOW + timedelta(minutes=1), "Again: FSRS's first learning step"
    assert URGENCY not in testbot.say("/quiz").text, "not due yet: a new item instead"
    testbot.at(NOW + timedelta(minutes=2))
    assert URGENCY in testbot.say("/quiz").text, "the due review comes before new items"


def test_a_number_answers_the_quiz_just_shown(testbot):
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    testbot.say("/quiz")
    assert testbot.say("1").text.startswith("Right!")
    assert testbot.app.generator.calls == [], "the answer did not become a question"


def test_card_round_trip_through_the_database_is_exact(testbot):
    store = testbot.app.store
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    testbot.press(option_button(testbot.say("/quiz"), 0))
    item = store.quiz_item(quiz_item_id(COURSE, "phishing", URGENCY))
    stored = store.review_card(learner(testbot), item.item_id)
    card = Card.from_dict(stored.card)
    assert card.to_dict() == stored.card
    later = NOW + timedelta(days=3, hours=5)
    reviewed, _ = Scheduler().review_card(card, Rating.Good, later)
    store.record_answer(
        learner_id=learner(testbot),
        item=item,
        chosen=0,
        correct=True,
        rating=3,
        card_before=card.to_dict(),
        card=reviewed.to_dict(),
        due=reviewed.due,
        at=later,
    )
    restored = Card.from_dict(store.review_card(learner(testbot), item.item_id).card)
    assert restored == reviewed and restored.to_dict() == reviewed.to_dict()
    raw = store.db.execute("select card from review_cards where item_id = ?", [item.item_id]).fetchone()[0]
    assert json.loads(raw) == reviewed.to_dict(), "stored as py-fsrs's own to_dict()"


def test_progress_counts(testbot):
    assert "not enrolled" in testbot.say("/progress").text
    testbot.say("/enroll security-basics")
    assert (
        "0 of 6 lessons done; no quiz answers yet; 0 due now; streak 0 days" in testbot.say("/progress").text
    )
    testbot.say("/lesson")
    testbot.say("/done")
    quiz = testbot.say("/quiz")
    testbot.press(option_button(quiz, 0))  # right
    testbot.press(option_button(testbot.say("/quiz"), 0))  # the link question: wrong
    testbot.at(NOW + timedelta(days=1, hours=1))
    testbot.say("/lesson")  # activity on the second day
    text = testbot.say("/progress").text
    assert "1 of 6 lessons done" in text
    assert "quiz accuracy 50% (1 of 2)" in text
    assert "2 due now" in text and "streak 2 days" in text
    row = testbot.app.bot.learning.loop.progress(learner(testbot), NOW + timedelta(days=1, hours=1))[0]
    assert (row.retention, row.learning) == (None, 2), "both cards are still in their learning steps"
    assert "predicted retention once your answers settle" in text


def test_predicted_retention_only_for_cards_past_their_learning_steps(testbot):
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    quiz = testbot.say("/quiz")
    assert URGENCY in quiz.text
    testbot.press(option_button(quiz, 1))  # wrong: Again, due in a minute
    testbot.at(NOW + timedelta(minutes=2))
    testbot.press(option_button(testbot.say("/quiz"), 1))  # the same item, wrong again
    text = testbot.say("/progress").text
    assert "%;" not in text and not text.rstrip().endswith("%"), "no retention figure after two misses"
    assert "predicted retention once your answers settle" in text
    testbot.at(NOW + timedelta(minutes=20))
    right = testbot.press(option_button(testbot.say("/quiz"), 0))
    testbot.press(right.buttons[0][0].data)  # Easy: the card graduates to FSRS's review state
    later = NOW + timedelta(days=3)
    row = testbot.app.bot.learning.loop.progress(learner(testbot), later)[0]
    assert row.learning == 0 and 0.5 < row.retention < 1
    assert f"predicted retention {row.retention:.0%}" in testbot.at(later).say("/progress").text


def test_a_removed_quiz_item_is_retired_and_never_asked(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(SAMPLES / COURSE, course)
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(course)
    store = testbot.app.store
    assert len(store.quiz_items(COURSE)) == 18
    assert {i.status for i in store.quiz_items(COURSE)} == {"approved"}
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    testbot.press(option_button(testbot.say("/quiz"), 0))
    item_id = quiz_item_id(COURSE, "phishing", URGENCY)

    lesson = course / "01-phishing.md"
    text = lesson.read_text()
    start = text.index("  - question: Which of these is a common sign of phishing?")
    end = text.index('  - question: "In the link')
    lesson.write_text(text[:start] + text[end:])
    testbot.ingest(course)
    assert store.quiz_item(item_id).status == "retired"
    assert len(store.quiz_items(COURSE)) == 17

    testbot.at(NOW + timedelta(days=30))
    asked = []
    for _ in range(4):
        reply = testbot.say("/quiz")
        asked.append(reply.text)
        if reply.buttons:
            testbot.press(option_button(reply, 0))
    assert asked[0].startswith("Quiz:") and not any(URGENCY in text for text in asked)
    assert all(card.item_id != item_id for card in store.due_cards(NOW + timedelta(days=30)))
    assert "0 due now" in testbot.say("/progress").text, "its overdue card no longer counts"

    lesson.write_text(text)
    testbot.ingest(course)
    assert store.quiz_item(item_id).status == "approved", "text that comes back is asked again"
    assert store.review_card(learner(testbot), item_id) is not None, "with the learner's card intact"


def test_settings_pause_and_resume_are_stored(testbot):
    store = testbot.app.store
    assert "time zone: UTC" in testbot.say("/settings").text
    assert "Europe/Berlin" in testbot.say("/settings tz Europe/Berlin").text
    assert "don't know the time zone" in testbot.say("/settings tz Mars/Olympus").text
    assert "08:00-21:00" in testbot.say("/settings hours 8-21").text
    assert "START-END" in testbot.say("/settings hours 25-3").text
    assert "paused" in testbot.say("/pause").text.lower()
    settings = store.learner_settings(learner(testbot))
    assert (settings.timezone, settings.active_start, settings.active_end, settings.paused) == (
        "Europe/Berlin",
        8,
        21,
        True,
    )
    assert "paused (/resume)" in testbot.say("/settings").text
    testbot.say("/resume")
    assert store.learner_settings(learner(testbot)).paused is False


def test_due_times_are_shown_in_the_learners_time_zone(testbot):
    testbot.say("/settings tz Asia/Tokyo")
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    reply = testbot.press(option_button(testbot.say("/quiz"), 0))
    assert "(Mon 02 Mar 17:10 your time)" in reply.text  # 08:10 UTC is 17:10 in Tokyo


def test_buttons_of_others_or_expired_ones_are_refused(testbot):
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    reply = testbot.press(option_button(testbot.say("/quiz"), 0))
    other = TestBot(testbot.app, user="learner-2")
    assert "expired" in other.press(reply.buttons[0][0].data).text, "someone else's easy/hard tap"
    assert "expired" in testbot.press("done:security-basics:no-such-lesson").text
    assert "no longer asked" in testbot.press("quiz:0000000000000000:1").text
    assert "expired" in testbot.press("rate:x:easy").text


def test_linking_accounts_moves_learning_state(testbot):
    testbot.say("/enroll security-basics", platform="slack")
    testbot.say("/lesson", platform="slack")
    testbot.press(option_button(testbot.say("/quiz", platform="slack"), 0), platform="slack")
    testbot.say("/settings tz Europe/Berlin", platform="slack")
    testbot.say("/enroll security-basics", platform="telegram")  # both hold the same enrollment
    code = testbot.say("/link", platform="telegram").text.split("code is ")[1][:8]
    assert "now one learner" in testbot.say(f"/link {code}", platform="slack").text
    store = testbot.app.store
    joined = store.learner_for("telegram", testbot.user)
    assert store.learner_for("slack", testbot.user) == joined
    assert store.enrollments(joined) == [COURSE]
    assert len(store.review_cards(joined)) == 1 and len(store.attempts(joined)) == 1
    assert store.learner_settings(joined).timezone == "Europe/Berlin"
    assert "quiz accuracy 100% (1 of 1)" in testbot.say("/progress", platform="telegram").text


def test_premium_courses_cannot_be_joined_yet(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    course = tmp_path / "premium"
    course.mkdir()
    (course / "course.toml").write_text('id = "gold"\ntitle = "Gold"\npremium = true\n')
    (course / "01-a.md").write_text("# A\n\nPremium text about gold bars.")
    testbot.ingest(course)
    assert "premium" in testbot.say("/enroll gold").text
    assert testbot.app.store.enrollments(learner(testbot)) == []


def test_long_lesson_ids_get_a_short_done_button(tmp_path):
    course = tmp_path / "deep"
    folder = course / "1-getting-started" / "lessons" / "1-introduction-to-the-internet-of-things"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(
        "# Introduction\n\nThe internet of things connects sensors to the cloud."
    )
    (course / "1-getting-started" / "lessons" / "2-deeper").mkdir()
    (course / "1-getting-started" / "lessons" / "2-deeper" / "README.md").write_text(
        "# Deeper\n\nMore things."
    )
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(course)
    course_id = testbot.app.store.courses()[0].course_id
    testbot.say(f"/enroll {course_id}")
    lesson = testbot.say("/lesson")
    data = lesson.buttons[0][0].data
    assert len(data.encode()) <= 64 and data.startswith("done:~")
    assert "Done: Introduction" in testbot.press(data).text


def test_learning_through_the_console_adapter(testbot):
    output = io.StringIO()
    adapter = ConsoleAdapter(testbot.app.bot, Console(file=output, width=200, color_system=None), user="ada")
    asyncio.run(adapter.say("/enroll security-basics"))
    [page] = asyncio.run(adapter.say("/lesson"))
    pages = 1
    while "[Next section]" in output.getvalue().rsplit("you>", 1)[-1] and page.buttons[0][0].label != "Done":
        [page] = asyncio.run(adapter.say("next section"))  # typing a button's label presses it
        pages += 1
    assert pages == 6 and "Key points to remember" in page.text
    assert asyncio.run(adapter.say("Done"))[0].text.startswith("Done: Recognising phishing")
    asyncio.run(adapter.say("/quiz"))
    replies = asyncio.run(adapter.say("1"))
    printed = output.getvalue()
    assert "Recognising phishing" in printed and "[Done]" in printed
    assert "Sources:" in printed and "01-phishing.md" in printed
    assert URGENCY in printed and replies[0].text.startswith("Right!")
    assert "[Easy]  [Hard]" in printed
    [rated] = asyncio.run(adapter.say("EASY"))
    assert rated.text.startswith("Noted: easy"), "the console presses Easy instead of asking a question"
    assert "Tap an answer" in asyncio.run(adapter.say("Next question"))[0].text
    assert testbot.app.generator.calls == [], "no label was taken for a question"
    asyncio.run(adapter.say("/progress"))
    assert "1 of 6 lessons done; quiz accuracy 100% (1 of 1)" in output.getvalue()
