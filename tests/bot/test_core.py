"""The conversation core, with a real SQLite file and Chroma, and fakes for the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.testing import FakeGenerator, TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = TestBot.build(tmp_path_factory.mktemp("data"), grounding_threshold=0.3)
    bot.ingest(SAMPLES / "security-basics")
    bot.ingest(SAMPLES / "security-basics-zh")
    return bot


def test_question_gets_a_cited_answer_and_is_logged(testbot):
    reply = testbot.say("How many random words should a passphrase have?")
    assert reply.grounded is True
    assert reply.citations and reply.citations[0].lesson_id == "passwords"
    assert "[1]" in reply.text
    logged = testbot.app.store.questions()[-1]
    assert logged["question"].startswith("How many random words") and logged["grounded"] == 1
    assert reply.buttons and reply.buttons[0][0].data == f"feedback:{reply.question_id}:up"


def test_uncovered_question_is_refused_with_closest_lessons(testbot):
    reply = testbot.say("What is the best recipe for sourdough bread?")
    assert reply.grounded is False
    assert "does not cover" in reply.text
    assert not reply.citations


def test_follow_up_uses_conversation_memory(testbot):
    generator: FakeGenerator = testbot.app.generator
    testbot.say("What should I do with a suspicious phishing email?", chat="memory")
    testbot.say("and why?", chat="memory")
    question, passages, history, _ = generator.calls[-1]
    assert question == "and why?"
    assert history and "phishing" in history[-1].question
    assert any(p.chunk.lesson_id == "phishing" for p in passages)
    other = testbot.say("and why?", chat="another-chat")
    assert other.grounded is False, "another conversation has no memory to borrow"


def test_chinese_question_is_answered_in_chinese(testbot):
    reply = testbot.say("钓鱼邮件有哪些常见特征？")
    assert reply.grounded is True
    assert reply.citations[0].course_id == "security-basics-zh"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Please type a question"),
        ("   \n\t ", "Please type a question"),
        ("\x00\x01\x02" * 500, "Please type a question"),
        ("x" * 50_000, "50,000 characters"),
        ("/frobnicate now", "I don't know the command /frobnicate"),
    ],
)
def test_bad_input_gets_one_clear_reply(testbot, text, expected):
    replies = testbot.say_all(text)
    assert len(replies) == 1
    assert expected in replies[0].text


def test_commands(testbot):
    assert "/courses" in testbot.say("/help").text
    assert "Security Basics for Employees" in testbot.say("/courses").text
    assert "Hi" in testbot.say("/start").text
    assert "/courses" in testbot.say("/help@learnbot").text


def test_a_failing_handler_becomes_an_apology(testbot, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("index on fire")

    monkeypatch.setattr(testbot.app.answers, "answer", boom)
    reply = testbot.say("What is phishing?")
    assert "something went wrong" in reply.text


def test_a_busy_or_failing_generator_still_gets_a_quoted_cited_answer(testbot):
    from knowledge.batcher import BatcherFull

    class Busy:
        name = "busy"

        def generate(self, question, passages, history, language):
            raise BatcherFull("64 requests are already waiting")

    chain = testbot.app.answers
    generator, chain.generator = chain.generator, Busy()
    try:
        reply = testbot.say("How many random words should a passphrase have?")
    finally:
        chain.generator = generator
    assert reply.grounded is True and reply.citations
    assert reply.text.endswith("(Quoted from the course material.)"), "the learner is told it is a quote"
    assert testbot.app.store.questions()[-1]["grounded"] == 1
    assert "Quoted from" not in testbot.say("What makes a phishing email suspicious?").text, (
        "the configured back end's own answers carry no such note"
    )
