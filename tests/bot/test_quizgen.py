"""Generated quiz items end to end: drafting into the store, review, learners, retirement on change."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.cli as cli_module
from bot.cli import common
from bot.testing import TestBot
from knowledge.quizgen import Checker, DraftItem

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
COURSE = "security-basics"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LESSON = """---
title: Sensors
---
# Sensors

A sensor measures something in the physical world and turns it into a signal a computer can read.
A thermistor is a resistor whose resistance changes with temperature, so it can measure heat.

## Actuators

An actuator does the opposite of a sensor: it turns a signal into an action in the physical world.
A relay is an electrically operated switch that lets a small current turn a large current on or off.
A servo motor can turn to an exact angle and hold that position against a load.
"""
LESSON_2 = """---
title: Networks
---
# Networks

A microcontroller talks to the cloud over Wi-Fi, which uses radio waves to carry data to a router.
MQTT is a lightweight messaging protocol in which devices publish messages to a broker.
The broker forwards each message to every client that subscribed to its topic.
"""


def small_course(root: Path) -> Path:
    """A two-lesson course with no authored quiz items."""
    course = root / "devices"
    course.mkdir(parents=True)
    (course / "course.toml").write_text(
        'id = "devices"\ntitle = "Devices"\nlanguage = "en"\n\n'
        '[[lessons]]\nid = "sensors"\nfile = "01-sensors.md"\n\n'
        '[[lessons]]\nid = "networks"\nfile = "02-networks.md"\n'
    )
    (course / "01-sensors.md").write_text(LESSON)
    (course / "02-networks.md").write_text(LESSON_2)
    return course


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    bot = TestBot.build(tmp_path / "data", chunk_size=300, chunk_overlap=0)
    bot.ingest(SAMPLES / COURSE)
    return bot.at(NOW)


def recheck(testbot: TestBot, item) -> None:  # noqa: ANN001
    """The stored item passes the checks again (against the course's other items)."""
    chunk = testbot.app.quizzes.source(item)
    assert chunk is not None and chunk.lesson_id == item.lesson_id
    draft = DraftItem(item.question, tuple(item.options), item.answer, item.explanation, chunk, "stored")
    testbot.app.quizzes.checker(item.course_id, leave_out=item.item_id).check(draft)


def test_extractive_drafts_on_the_sample_course_are_valid_drafts(testbot):
    quizzes = testbot.app.quizzes
    report = quizzes.generate(COURSE, limit=12, use_llm=False)
    assert report.drafter == "extractive" and report.chunks == 12
    assert len(report.stored) >= 6, report.rejections  # a chunk with no key-term sentence gets no draft
    assert {item.lesson_id for item in report.stored} == {
        lesson.lesson_id for lesson in testbot.app.store.lessons(COURSE)
    }, "chunks are taken from every lesson in turn"
    for item in report.stored:
        assert (item.status, item.origin) == ("draft", "generated")
        assert 3 <= len(item.options) <= 4 and ("_____" in item.question or item.question.endswith("?"))
        recheck(testbot, item)
    assert [d.item_id for d in quizzes.drafts(COURSE)] == [
        i.item_id for i in testbot.app.store.quiz_items(COURSE, status="draft")
    ]

    again = quizzes.generate(COURSE, limit=5, use_llm=False)
    assert again.drafted_before == len(report.stored), "chunks whose drafts failed are tried again"
    stored_chunks = {i.source_chunk_id for i in report.stored}
    assert not stored_chunks & {i.source_chunk_id for i in again.stored}, "a chunk is drafted from once"


class ScriptedModel:
    """A chat model: a good JSON item from the chunk's first sentence, or a reply that is not JSON."""

    name = "scripted"

    def __init__(self, good_every: int = 2) -> None:
        self.calls = 0
        self.good_every = good_every

    def generate(self, question, passages, history, language):  # noqa: ANN001
        return "unused [1]"

    def chat(self, messages, max_new_tokens=None, prefix=""):  # noqa: ANN001
        self.calls += 1
        passage = messages[-1].content.split("\n", 1)[1]
        if self.calls % self.good_every:
            return prefix + "What is the best way to learn?"  # not JSON
        words = [w.strip(".,:*`") for w in passage.split() if len(w.strip(".,:*`")) > 6]
        item = {
            "question": f"Which term does the lesson section use (call {self.calls})?",
            "options": [words[0].lower(), "banana bread", "weekly newsletter"],
            "answer": 0,
            "explanation": "It is in the passage.",
        }
        return f"Sure! Here is the item:\n```json\n{json.dumps(item)}\n```\nHope it helps."


def test_the_embedded_model_drafts_only_when_the_admin_names_it(tmp_path):
    # the packaged 0.5B model's drafts that pass the checks are bad ones: by default the extractive
    # drafter writes the items, and the model drafts only when asked for (`--generator local`)
    model = ScriptedModel()
    model.embedded = True
    testbot = TestBot.build(tmp_path / "data", generator=model)
    testbot.ingest(SAMPLES / COURSE)
    report = testbot.app.quizzes.generate(COURSE, limit=3)
    assert (report.drafter, report.fallback, model.calls) == ("extractive", "", 0)
    asked = testbot.app.quizzes.generate(COURSE, limit=3, use_llm=True)
    assert asked.drafter == "llm" and model.calls == 3


def test_the_llm_drafts_and_the_extractive_drafter_is_the_fallback(tmp_path):
    model = ScriptedModel()
    testbot = TestBot.build(tmp_path / "data", generator=model)
    testbot.ingest(SAMPLES / COURSE)
    report = testbot.app.quizzes.generate(COURSE, limit=6)
    assert (report.drafter, report.fallback) == ("llm", "extractive")
    assert model.calls == 6
    assert report.rejected("llm")["malformed"] == 3
    by = report.stored_by()
    assert by["llm"] == 3 and by["extractive"] >= 2, report.rejections
    llm_items = [i for i in report.stored if report.drafted_by[i.item_id] == "llm"]
    assert all(i.explanation == "It is in the passage." for i in llm_items)


def test_drafts_reach_learners_only_after_approval(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(small_course(tmp_path))
    report = testbot.app.quizzes.generate("devices", limit=10, use_llm=False)
    assert report.stored, report.rejections
    testbot.say("/enroll devices")
    testbot.say("/lesson")
    testbot.say("/done")
    testbot.say("/lesson")
    assert "No questions for you yet" in testbot.say("/quiz").text, "drafts are not asked"
    draft = report.stored[0]
    forged = testbot.press(f"quiz:{draft.item_id}:0")
    assert "no longer asked" in forged.text, "a draft cannot be answered even with a forged button"

    assert testbot.app.quizzes.approve(draft.item_id)
    quiz = testbot.say("/quiz")
    assert draft.question in quiz.text
    reply = testbot.press(f"quiz:{draft.item_id}:{draft.answer}")
    assert reply.text.startswith("Right!")
    assert reply.citations[0].heading == testbot.app.quizzes.source(draft).heading, "cites its chunk"
    assert not testbot.app.quizzes.approve(draft.item_id), "only drafts are approved"


def test_a_changed_lesson_retires_the_items_of_its_vanished_chunks(tmp_path):
    course = small_course(tmp_path)
    testbot = TestBot.build(tmp_path / "data", chunk_size=300, chunk_overlap=0)
    testbot.ingest(course)
    quizzes, store = testbot.app.quizzes, testbot.app.store
    report = quizzes.generate("devices", limit=10, use_llm=False)
    chunks = {c.chunk_id: c for c in quizzes.course_chunks("devices")}
    relay = next(i for i in report.stored if "relay" in chunks[i.source_chunk_id].text.lower())
    kept = [
        i
        for i in report.stored
        if i.item_id != relay.item_id and "relay" not in chunks[i.source_chunk_id].text
    ]
    assert kept, "items of other chunks"
    quizzes.approve(relay.item_id)

    (course / "01-sensors.md").write_text(
        LESSON.replace("A relay is an electrically operated switch", "A relay is a switch")
    )
    testbot.ingest(course)
    assert store.quiz_item(relay.item_id).status == "retired", "its chunk changed"
    assert all(store.quiz_item(i.item_id).status == "draft" for i in kept), (
        "unchanged chunks keep their items"
    )

    (course / "course.toml").write_text(
        'id = "devices"\ntitle = "Devices"\n\n[[lessons]]\nid = "sensors"\nfile = "01-sensors.md"\n'
    )
    (course / "02-networks.md").unlink()
    testbot.ingest(course)
    for item in kept:
        expected = "retired" if item.lesson_id == "networks" else "draft"
        assert store.quiz_item(item.item_id).status == expected, "a removed lesson's items retire"


def test_edit_is_checked_again_and_only_drafts_change(testbot):
    quizzes, store = testbot.app.quizzes, testbot.app.store
    item = quizzes.generate(COURSE, limit=3, use_llm=False).stored[0]
    bad = [item.options[0], item.options[0].upper(), *item.options[1:2]]
    with pytest.raises(Exception, match="options"):
        quizzes.edit(item.item_id, item.question, bad, 0, "")
    assert store.quiz_item(item.item_id) == item, "a failed edit changes nothing"
    authored = "Which of these is a common sign of phishing?"
    with pytest.raises(Exception, match="duplicate"):
        quizzes.edit(item.item_id, authored, item.options, item.answer, "")
    edited = quizzes.edit(
        item.item_id, "Which word completes the lesson's sentence?  ", item.options, item.answer, "x"
    )
    assert edited.question == "Which word completes the lesson's sentence?" and edited.item_id == item.item_id
    assert quizzes.reject(item.item_id)
    assert store.quiz_item(item.item_id).status == "rejected"
    with pytest.raises(ValueError):
        quizzes.edit(item.item_id, "Anything else at all?", item.options, item.answer, "")
    assert not quizzes.approve(item.item_id), "a rejected draft stays rejected"


def test_cli_generate_and_review_approve_edit_reject(testbot, monkeypatch):
    monkeypatch.setattr(common, "open_app", lambda **_: testbot.app)
    runner = CliRunner()
    generated = runner.invoke(cli_module.cli, ["quiz", "generate", COURSE, "--limit", "6"])
    assert generated.exit_code == 0, generated.output
    drafts = testbot.app.quizzes.drafts(COURSE)
    n = len(drafts)
    assert n >= 4 and f"{n} drafts stored from 6 chunks ({n} by extractive)" in generated.output

    new_question = "Which word is missing from the lesson's sentence?"
    script = "\n".join(
        [
            "a",  # approve the first
            "e",  # edit the second: a duplicate option is refused, then a new question is saved
            "",
            f"{drafts[1].options[0]} | {drafts[1].options[0]}",
            "1",
            "",
            "e",
            new_question,
            "",
            "",
            "",
            "a",
            "r",  # reject the third
            "q",  # and stop before the fourth
        ]
    )
    reviewed = runner.invoke(cli_module.cli, ["quiz", "review", COURSE], input=script + "\n")
    assert reviewed.exit_code == 0, reviewed.output
    assert f"draft 1 of {n}" in reviewed.output and "✓" in reviewed.output
    assert "not saved (options)" in reviewed.output
    assert f"2 approved, 1 edited, 1 rejected, 0 skipped; {n - 3} drafts still waiting." in reviewed.output
    store = testbot.app.store
    assert store.quiz_item(drafts[0].item_id).status == "approved"
    assert store.quiz_item(drafts[1].item_id).question == new_question
    assert store.quiz_item(drafts[1].item_id).status == "approved"
    assert store.quiz_item(drafts[2].item_id).status == "rejected"
    assert store.quiz_item(drafts[3].item_id).status == "draft"
    unknown = runner.invoke(cli_module.cli, ["quiz", "review", "cooking"])
    assert unknown.exit_code != 0


def test_the_course_toml_quiz_still_goes_live_beside_generated_items(testbot):
    """Authored items are approved with the lesson; the checker counts them as existing questions."""
    checker = testbot.app.quizzes.checker(COURSE)
    assert isinstance(checker, Checker)
    assert "Which of these is a common sign of phishing?" in checker.questions


def test_the_sample_courses_option_lengths_do_not_give_the_answer_away():
    from knowledge.loaders import load_course
    from knowledge.quizrubric import chance_share, length_giveaway, longest_share

    items = [
        (tuple(spec.options), spec.answer)
        for name in ("security-basics", "security-basics-zh")
        for lesson in load_course(SAMPLES / name).lessons
        for spec in lesson.quiz
    ]
    assert len(items) >= 20
    assert longest_share(items) <= chance_share(items), (
        "the correct option is the longest no more than by chance"
    )
    assert not [options for options, answer in items if length_giveaway(options, answer)]
