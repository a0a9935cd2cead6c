"""``python -m eval quizgen`` on the sample course: it runs and counts what it claims."""

from __future__ import annotations

from pathlib import Path

from bot.testing import TestBot
from eval.quizgen import _report, item_kind, measure, rubric_flags
from knowledge.cloze import ClozeDrafter
from knowledge.models import Chunk
from knowledge.quizgen import DraftItem, pick_chunks

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


def test_measure_counts_drafts_checks_and_retrieval_support(tmp_path):
    testbot = TestBot.build(tmp_path / "data")
    testbot.ingest(SAMPLES / "security-basics")
    app = testbot.app
    chunks = app.quizzes.course_chunks("security-basics")
    picked = pick_chunks(chunks, 6)
    score = measure(app, ClozeDrafter(chunks, app.live_records.keyword), picked)
    assert score.chunks == 6 and score.parsed + sum(score.rejected.values()) >= 6
    assert len(score.accepted) + sum(score.rejected.values()) == 6
    assert 0 < score.supported_parsed <= score.parsed and score.supported_accepted <= len(score.accepted)
    _report([score], tmp_path, len(picked))
    report = (tmp_path / "quizgen.md").read_text()
    parsed = f"{score.parsed / 6:.0%} ({score.parsed}/6)"
    assert f"| extractive | {parsed} |" in report and "## Examples" in report
    assert "## The rubric, automatic checks" in report and "correct option the longest" in report
    assert sum(score.flags.values()) == 0, "the extractive drafts break no rule the program can check"


CHUNK = Chunk(
    "c",
    "Write Comma Separated Values to a CSV file. The relay switches the pump.",
    "k",
    "l",
    "",
    "",
    "x.md",
    "en",
)


def draft(question: str, options: tuple[str, ...], answer: int = 0) -> DraftItem:
    return DraftItem(question, options, answer, "", CHUNK, "test")


def test_the_rubric_flags_what_a_teacher_would_reject():
    assert rubric_flags(draft("Fill in the blank: _____ use the relay.", ("people", "relays", "pumps"))) == [
        "filler"
    ]
    assert rubric_flags(draft("In the image above, what switches the pump?", ("relay", "sensor", "LED"))) == [
        "figure"
    ]
    leak = draft("Fill in the blank: Write Comma Separated Values to a _____ file.", ("CSV", "XML", "JSON"))
    assert rubric_flags(leak) == ["leak"]
    long = draft(
        "What switches the pump?", ("the relay that the lesson wires to the pump", "an LED", "a fan")
    )
    assert rubric_flags(long) == ["length"]
    assert rubric_flags(draft("What switches the pump?", ("relay", "Azure", "AWS"))) == ["kind"]
    assert rubric_flags(draft("What switches the pump?", ("relay", "sensor", "button"))) == []
    assert [
        item_kind(q) for q in ("Fill in the blank: a _____.", 'Which term does the lesson define as "x"?')
    ] == [
        "blank",
        "definition",
    ]
