"""``python -m eval quizgen`` on the sample course: it runs and counts what it claims."""

from __future__ import annotations

from pathlib import Path

from bot.testing import TestBot
from eval.quizgen import _report, measure
from knowledge.cloze import ClozeDrafter
from knowledge.quizgen import pick_chunks

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
    assert "| extractive | 100% (6/6) |" in report and "## Examples" in report
