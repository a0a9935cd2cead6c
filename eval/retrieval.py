"""``python -m eval retrieval``: does each question reach its own lesson, in a catalogue as a learner gets it?

Nothing is filtered by course. Two catalogues are measured:

* **both**: the English and the Chinese IoT course loaded together (a translated course). An English
  question should find the English copy of its lesson, a Chinese question the Chinese copy.
* **partial**: the English course and the Chinese course's first three modules only, so the later
  lessons exist in English alone: a Chinese question about them must reach the English lesson.

Question sets: the IoT quiz questions (en, zh; over the partial catalogue, those on English-only
lessons and those on lessons it holds in Chinese apart), the sibling-confusion set (questions that
name one of two similar lessons), covered questions with noise words, and Chinese questions written
about English lessons (``eval/datasets``). Each set is scored for the product's fused retriever, its
dense and keyword halves, and the plain anchor pipeline (``eval/anchor.py``) in the same run.
Lesson-level R@1/3/5 and MRR@10; latency per question for the product's retrievers. Misses go to
``retrieval_misses.jsonl``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.table import Table

from eval.anchor import AnchorPipeline
from eval.common import IOT, Question, app_with_courses, console, progress, read_questions, write_report
from knowledge.fusion import lesson_ranking
from knowledge.loaders import CourseOverrides, load_course

DATASETS = Path(__file__).parent / "datasets"
PARTIAL_MODULES = ("1-getting-started", "2-farm", "3-transport")


@dataclass
class Scores:
    """Lesson-level metrics of one method on one question set."""

    r1: float
    r3: float
    r5: float
    mrr10: float
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    misses: list[dict] = field(default_factory=list)


@dataclass
class QuestionSet:
    """Questions, the catalogue they are asked of, and the course whose copy of the lesson is right."""

    name: str
    catalogue: str
    questions: list[Question]
    language: str

    def expected(self, q: Question) -> tuple[str, str]:
        """The learner's-language copy when the catalogue has one, else the English lesson."""
        if self.language == "zh" and (
            self.catalogue == "both" or q.lesson_id.split("/")[0] in PARTIAL_MODULES
        ):
            return ("iot-zh", q.lesson_id)
        return ("iot-en", q.lesson_id)


def partial_course(corpus: Path, work: Path) -> Path:
    """A copy of the Chinese course's first three modules in ``work`` (the later lessons English-only)."""
    partial = work / "zh-partial"
    if not partial.exists():
        for module in PARTIAL_MODULES:
            shutil.copytree(corpus / "lessons" / "zh" / module, partial / module)
    return partial


def question_sets(corpus: Path, quick: bool = False) -> list[QuestionSet]:
    """Every set of this evaluation (``quick``: the first 12 questions of each)."""

    def take(rows: list[Question]) -> list[Question]:
        return rows[:12] if quick else rows

    def by_language(path: Path, language: str) -> list[Question]:
        return [q for q in read_questions(path) if q.language == language]

    en_quiz = read_questions(corpus / "quizzes.en.jsonl")
    zh_quiz = read_questions(corpus / "quizzes.zh-cn.jsonl")
    zh_en_only = [q for q in zh_quiz if q.lesson_id.split("/")[0] not in PARTIAL_MODULES]
    written = read_questions(DATASETS / "iot_zh_to_en.jsonl")
    sets = [
        QuestionSet("quiz en", "both", en_quiz, "en"),
        QuestionSet("quiz zh", "both", zh_quiz, "zh"),
        QuestionSet("siblings en", "both", by_language(DATASETS / "iot_siblings.jsonl", "en"), "en"),
        QuestionSet("siblings zh", "both", by_language(DATASETS / "iot_siblings.jsonl", "zh"), "zh"),
        QuestionSet("noise en", "both", by_language(DATASETS / "iot_covered_noise.jsonl", "en"), "en"),
        QuestionSet("noise zh", "both", by_language(DATASETS / "iot_covered_noise.jsonl", "zh"), "zh"),
        QuestionSet("zh→en-only quiz", "partial", zh_en_only, "zh"),
        # the other side of the same catalogue: what reaching English lessons must not cost
        QuestionSet(
            "zh quiz, zh lessons, partial", "partial", [q for q in zh_quiz if q not in zh_en_only], "zh"
        ),
        QuestionSet(
            "zh→en-only written",
            "partial",
            [q for q in written if q.lesson_id.split("/")[0] not in PARTIAL_MODULES],
            "zh",
        ),
        QuestionSet("zh written, partial zh", "partial", written, "zh"),
    ]
    return [QuestionSet(s.name, s.catalogue, take(s.questions), s.language) for s in sets]


def score(ranked_for: Callable[[Question], list[tuple[str, str]]], qset: QuestionSet, label: str) -> Scores:
    """Run every question of a set through one method and compute the lesson-level metrics."""
    ranks: list[int | None] = []
    latencies: list[float] = []
    misses = []
    with progress() as bar:
        task = bar.add_task(label, total=len(qset.questions))
        for q in qset.questions:
            started = time.perf_counter()
            ranked = ranked_for(q)
            latencies.append((time.perf_counter() - started) * 1000)
            expected = qset.expected(q)
            rank = ranked.index(expected) + 1 if expected in ranked else None
            ranks.append(rank)
            if rank != 1:
                misses.append(
                    {
                        "id": q.qid,
                        "question": q.question,
                        "expected": list(expected),
                        "rank": rank,
                        "got": [list(key) for key in ranked[:3]],
                    }
                )
            bar.advance(task)
    n = max(len(ranks), 1)

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return Scores(
        recall(1),
        recall(3),
        recall(5),
        mrr,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 95)),
        misses,
    )


def run(corpus: Path, embedders: list[str], out: Path, work: Path, quick: bool = False) -> dict:
    """Evaluate the product (each embedder) and the anchor on every set; write ``retrieval.md``."""
    partial = partial_course(corpus, work)
    sets = question_sets(corpus, quick)
    results: dict[tuple[str, str], Scores] = {}
    full = {"iot-en": corpus / "lessons" / "en", "iot-zh": corpus / "lessons" / "zh"}
    courses = {cid: load_course(path, CourseOverrides(course_id=cid)) for cid, path in full.items()}
    anchor = AnchorPipeline(list(courses.values()))
    partial_lessons = {("iot-en", lesson.lesson_id) for lesson in courses["iot-en"].lessons} | {
        ("iot-zh", lesson.lesson_id)
        for lesson in courses["iot-zh"].lessons
        if lesson.lesson_id.split("/")[0] in PARTIAL_MODULES
    }
    for embedder in embedders:
        apps = {"both": app_with_courses(work / "both", embedder, full)}
        partial_dir = work / "partial" / embedder
        if not partial_dir.exists():  # start from the full catalogue: unchanged lessons keep their vectors
            shutil.copytree(work / "both" / embedder, partial_dir)
        apps["partial"] = app_with_courses(
            work / "partial", embedder, {"iot-en": full["iot-en"], "iot-zh": partial}
        )
        for qset in sets:
            app = apps[qset.catalogue]
            untranslated = app.retriever.without_translation()
            methods: dict[str, Callable[[Question], list[tuple[str, str]]]] = {
                f"Learnbot ({embedder})": lambda q, app=app: app.retriever.lessons(q.question, 10),
                f"Learnbot, no LLM translation ({embedder})": lambda q, r=untranslated: r.lessons(
                    q.question, 10
                ),
                f"dense only ({embedder})": lambda q, app=app: _ranked(app.dense_retriever, q),
                "BM25 only (product chunks)": lambda q, app=app: _ranked(app.keyword_retriever, q),
            }
            for name, method in methods.items():
                results[(qset.name, name)] = score(method, qset, f"{qset.name}: {name}")
    for qset in sets:
        allowed = partial_lessons if qset.catalogue == "partial" else None
        for method in AnchorPipeline.METHODS:
            results[(qset.name, f"anchor {method}")] = score(
                lambda q, m=method, a=allowed: anchor.lessons(q.question, m, a),
                qset,
                f"{qset.name}: anchor {method}",
            )
    _report(results, sets, out)
    return results


def _ranked(retriever, q: Question) -> list[tuple[str, str]]:  # noqa: ANN001
    hits = retriever.retrieve(q.question, k=50)
    return lesson_ranking([(hits, [1.0] * len(hits))])[:10]


def _report(results: dict[tuple[str, str], Scores], sets: list[QuestionSet], out: Path) -> None:
    table = Table(title="Lesson-level retrieval, unfiltered (R@1 / R@3 / R@5 / MRR@10, p50 / p95 ms)")
    for column in ("question set", "n", "method", "R@1", "R@3", "R@5", "MRR@10", "p50 ms", "p95 ms"):
        table.add_column(column)
    sizes = {s.name: len(s.questions) for s in sets}
    lines = [
        "# Retrieval",
        "",
        "Unfiltered: the whole catalogue as a learner gets it. *both*: English and Chinese IoT courses;",
        "*partial*: English course plus the Chinese course's first three modules (later lessons are",
        "English-only). The right answer is the learner's-language copy of the lesson when one exists.",
        "",
        "| question set | n | method | R@1 | R@3 | R@5 | MRR@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    misses = []
    for (set_name, name), s in results.items():
        cells = [
            f"{s.r1:.2f}",
            f"{s.r3:.2f}",
            f"{s.r5:.2f}",
            f"{s.mrr10:.2f}",
            f"{s.p50_ms:.1f}",
            f"{s.p95_ms:.1f}",
        ]
        table.add_row(set_name, str(sizes[set_name]), name, *cells)
        lines.append(f"| {set_name} | {sizes[set_name]} | {name} | " + " | ".join(cells) + " |")
        if name.startswith("Learnbot"):
            misses += [{"set": set_name, "method": name, **m} for m in s.misses]
    console.print(table)
    path = write_report(out, "retrieval.md", "\n".join(lines) + "\n")
    write_report(
        out, "retrieval_misses.jsonl", "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in misses)
    )
    console.print(f"report: {path}; misses: {out / 'retrieval_misses.jsonl'}")


def default_paths() -> tuple[Path, Path]:
    """The IoT corpus and the default output folder."""
    return IOT, Path("eval-out")
