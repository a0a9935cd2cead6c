"""The eval tool's own pieces: option parsing, the baseline, sampling, synthetic chunks, the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from eval import all as all_eval
from eval.answers import parse_choice, quiz_text, sample, similarity_choice
from eval.bench_scale import synthetic
from eval.common import Question
from knowledge.models import Chunk, ScoredChunk

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ("A temperature sensor", "An actuator like a relay", "A microcontroller")


def test_parses_the_option_a_reply_names():
    assert parse_choice("2. An actuator", OPTIONS) == 1
    assert parse_choice(" 3", OPTIONS) == 2
    assert parse_choice("7 is my guess", OPTIONS) is None  # a number that is no option, nothing else
    assert parse_choice("It must be the relay actuator", OPTIONS) == 1  # no number: the option's words
    assert parse_choice("no idea", OPTIONS) is None


def test_quiz_text_numbers_the_options_in_the_question_language():
    q = Question("1", "What switches a lamp?", "l", options=OPTIONS, correct_index=1)
    assert "1. A temperature sensor\n2. An actuator like a relay\n3. A microcontroller" in quiz_text(q, "en")
    assert "选项" in quiz_text(q, "zh")


def test_similarity_baseline_picks_the_option_the_passages_hold():
    q = Question("1", "What switches a lamp on?", "l", options=OPTIONS, correct_index=1)
    text = "A relay is an actuator: an electrically operated switch that turns the lamp on."
    passage = ScoredChunk(Chunk("c", text, "c", "l", "t", "h", "f", "en"), 1.0)
    assert similarity_choice(q, [passage], lambda term: 0.1, 100) == 1


def test_sample_spreads_over_the_file_and_zero_means_all():
    items = [Question(str(n), "q", "l") for n in range(10)]
    assert [q.qid for q in sample(items, 5)] == ["0", "2", "4", "6", "8"]
    assert sample(items, 0) == items and sample(items, 50) == items


def test_synthetic_chunks_keep_real_words_and_unit_vectors():
    chunks = [
        Chunk(
            f"c{n}", f"Sensors measure {n}. Relays switch {n}. MQTT sends {n}", "c", "l", "t", "h", "f", "en"
        )
        for n in range(5)
    ]
    vectors = np.eye(5, 8, dtype=np.float32)
    records, matrix = synthetic(chunks, vectors, 23)
    assert len(records) == 23 and len({r.record_id for r in records}) == 23 and matrix.shape == (23, 8)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    assert all(
        set(r.chunk.text.split()) <= {w for c in chunks for w in c.text.split()} | {"."} for r in records[:5]
    )
    assert int(np.argmax(matrix[7])) == 2  # the noisy copy stays nearest its own chunk's direction


def test_combined_report_has_a_table_of_contents_and_every_section(tmp_path):
    (tmp_path / "a.md").write_text("# Speed\n\n| m | v |\n|---|---|\n| x | 1 |\n\n## Detail\n\ntext\n")
    steps = [
        all_eval.Step("Speed", "a.md", lambda: None, seconds=90),
        all_eval.Step("Answer quality", "missing.md", lambda: None, error="Traceback: boom"),
    ]
    text = all_eval.combine(steps, tmp_path).read_text()
    assert (
        "| [Speed](#speed) | 1.5 | ok |" in text
        and "| [Answer quality](#answer-quality) | 0.0 | failed |" in text
    )
    assert "## Speed" in text and "### Detail" in text and "| x | 1 |" in text and "boom" in text
    assert text.count("# Speed") == 1  # the step's own title became the section heading


def test_run_keeps_going_after_a_failed_step(tmp_path, monkeypatch):
    ran = []

    def boom() -> None:
        raise RuntimeError("broken step")

    plan = [all_eval.Step("First", "x.md", boom), all_eval.Step("Second", "y.md", lambda: ran.append(1))]
    monkeypatch.setattr(all_eval, "steps", lambda *args: plan)
    all_eval.run(tmp_path, tmp_path, tmp_path, tmp_path)
    assert ran == [1] and "broken step" in plan[0].error and (tmp_path / "report.md").is_file()


def test_every_subcommand_is_listed():
    result = subprocess.run(
        [sys.executable, "-m", "eval", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    for name in ("retrieval", "grounding", "answers", "bench", "load", "pushes", "quizgen", "all"):
        assert name in result.stdout
