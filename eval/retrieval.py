"""``python -m eval retrieval``: does each question retrieve its own lesson?

Lesson-level Recall@1/3/5 and MRR@10 for BM25 alone, each embedder alone and the fused retriever,
on three sets measured in the same run: English questions over English lessons, Chinese over
Chinese, and Chinese questions over English lessons (cross-lingual).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

from eval.common import IOT, Question, app_with_courses, console, progress, read_questions, write_report
from knowledge.models import SearchFilter
from knowledge.retrieval import FusedRetriever, Retriever, lesson_ranking


@dataclass
class Scores:
    """Lesson-level retrieval metrics of one retriever on one question set."""

    r1: float
    r3: float
    r5: float
    mrr10: float
    p50_ms: float
    p95_ms: float


def score(retriever: Retriever, questions: list[Question], course_id: str, label: str) -> Scores:
    """Run every question and compute the lesson-level metrics."""
    search_filter = SearchFilter(course_ids=(course_id,))
    ranks: list[int | None] = []
    latencies: list[float] = []
    with progress() as bar:
        task = bar.add_task(label, total=len(questions))
        for q in questions:
            started = time.perf_counter()
            if isinstance(retriever, FusedRetriever):
                ranked = retriever.lessons(q.question, 50, search_filter)
            else:
                hits = retriever.retrieve(q.question, k=50, search_filter=search_filter)
                ranked = lesson_ranking([(hits, [1.0] * len(hits))])
            latencies.append((time.perf_counter() - started) * 1000)
            lessons = [lesson for _, lesson in ranked]
            ranks.append(lessons.index(q.lesson_id) + 1 if q.lesson_id in lessons else None)
            bar.advance(task)

    def recall(n: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= n) / len(ranks)

    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / len(ranks)
    return Scores(
        recall(1),
        recall(3),
        recall(5),
        mrr,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 95)),
    )


def run(corpus: Path, embedders: list[str], out: Path, work: Path) -> dict[tuple[str, str], Scores]:
    """Evaluate every retriever on every question set; write ``retrieval.md`` into ``out``."""
    sets = [
        ("IoT English over English lessons", "quizzes.en.jsonl", "iot-en"),
        ("IoT Chinese over Chinese lessons", "quizzes.zh-cn.jsonl", "iot-zh"),
        ("IoT Chinese over English lessons", "quizzes.zh-cn.jsonl", "iot-en"),
    ]
    courses = {"iot-en": corpus / "lessons" / "en", "iot-zh": corpus / "lessons" / "zh"}
    results: dict[tuple[str, str], Scores] = {}
    for embedder in embedders:
        app = app_with_courses(work, embedder, courses)
        for set_name, question_file, course_id in sets:
            questions = read_questions(corpus / question_file)
            retrievers: dict[str, Retriever] = {
                embedder: app.dense_retriever,
                f"BM25 + {embedder} fused": app.retriever,
            }
            if embedder == embedders[0]:
                retrievers = {"BM25": app.keyword_retriever, **retrievers}
            for name, retriever in retrievers.items():
                results[(set_name, name)] = score(retriever, questions, course_id, f"{set_name}: {name}")
    _report(results, out)
    return results


def _report(results: dict[tuple[str, str], Scores], out: Path) -> None:
    table = Table(title="Lesson-level retrieval (R@1 / R@3 / R@5 / MRR@10, latency p50 / p95 ms)")
    for column in ("question set", "retriever", "R@1", "R@3", "R@5", "MRR@10", "p50 ms", "p95 ms"):
        table.add_column(column)
    lines = [
        "# Retrieval",
        "",
        "Each quiz question (text only) should retrieve its own lesson (`lesson_paths[0]`). Lessons are",
        "ranked from the top 50 chunks of each retriever (up to 3 chunks per lesson count, reciprocal rank);",
        "pages that belong to no lesson are skipped. Latency is per question, lesson ranking included.",
        "",
        "| question set | retriever | R@1 | R@3 | R@5 | MRR@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (set_name, name), s in results.items():
        cells = [
            f"{s.r1:.2f}",
            f"{s.r3:.2f}",
            f"{s.r5:.2f}",
            f"{s.mrr10:.2f}",
            f"{s.p50_ms:.1f}",
            f"{s.p95_ms:.1f}",
        ]
        table.add_row(set_name, name, *cells)
        lines.append(f"| {set_name} | {name} | " + " | ".join(cells) + " |")
    console.print(table)
    path = write_report(out, "retrieval.md", "\n".join(lines) + "\n")
    console.print(f"report: {path}")


def default_paths() -> tuple[Path, Path]:
    """The IoT corpus and the default output folder."""
    return IOT, Path("eval-out")
