"""The eval tools on tiny inputs: they run and compute what they claim (no speed is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eval.common import read_questions
from eval.grounding import Case, fit, rates
from knowledge.fusion import lesson_ranking
from knowledge.grounding import Evidence
from knowledge.models import Chunk, ScoredChunk

ROOT = Path(__file__).resolve().parents[2]


def test_reads_iot_quizzes_and_the_simple_format(tmp_path):
    quiz = tmp_path / "quiz.jsonl"
    quiz.write_text(
        json.dumps(
            {
                "quiz_id": 3,
                "title": "t",
                "kind": "pre",
                "lesson_paths": ["a/b"],
                "questions": [{"question": "Q1?", "options": ["x", "y"], "correct_index": 1}],
            }
        )
    )
    [q] = read_questions(quiz)
    assert (q.qid, q.lesson_id, q.options, q.correct_index) == ("3.0", "a/b", ("x", "y"), 1)
    simple = tmp_path / "simple.jsonl"
    simple.write_text('{"question": "Why?", "lesson_id": "", "answerable": false}\n\n{"question": "How?"}\n')
    first, second = read_questions(simple)
    assert not first.answerable and second.answerable and second.qid == "3"


def _hit(lesson: str) -> ScoredChunk:
    return ScoredChunk(Chunk(lesson + "x", "t", "c", lesson, lesson, "", "f", "en"), 1.0)


def test_lesson_ranking_rewards_evidence_from_several_chunks():
    dense = [_hit("a"), _hit("b"), _hit("b"), _hit(""), _hit("b")]
    assert lesson_ranking([(dense, [1.0] * len(dense))]) == [("c", "b"), ("c", "a")]


def test_grounding_fit_separates_covered_from_uncovered():
    covered = [Case("s", True, Evidence(0.6 + i / 100, 0.8, 1.0, 1.0, False)) for i in range(20)]
    uncovered = [Case("s", False, Evidence(0.2 + i / 100, 0.2, 0.3, 0.0, False)) for i in range(20)]
    cross = [Case("x", True, Evidence(0.5, 0, 0, 0, True)), Case("x", False, Evidence(0.1, 0, 0, 0, True))]
    weights = fit(covered + uncovered + cross)
    refused, wrong = rates(covered + uncovered, weights, 0.5)
    assert refused == 1.0 and wrong == 0.0


def test_grounding_fit_gives_a_language_with_enough_questions_its_own_weights():
    # The same signals mean "covered" in English and "uncovered" in Chinese: only weights per
    # language can separate both; a language with too few questions keeps the shared weights.
    def cases(language: str, covered_high: bool) -> list[Case]:
        high = [Evidence(0.5, 0.9, 1.0, 1.0, False, 0.0, language) for _ in range(20)]
        low = [Evidence(0.5, 0.3, 1.0, 1.0, False, 0.0, language) for _ in range(20)]
        return [Case(language, covered_high, e) for e in high] + [
            Case(language, not covered_high, e) for e in low
        ]

    english, chinese = cases("en", True), cases("zh", False)
    few = [Case("fr", True, Evidence(0.5, 0.9, 1.0, 1.0, False, 0.0, "fr"))]
    weights = fit(english + chinese + few)
    assert [language for language, _, _ in weights.by_language] == ["en", "zh"]
    assert rates(english, weights, 0.5) == (1.0, 0.0)
    assert rates(chinese, weights, 0.5) == (1.0, 0.0)
    assert weights.for_language("fr") == (weights.same_language, weights.bias)


def test_missing_corpus_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "eval", "retrieval", "--corpus", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2 and "corpus not found" in result.stdout
