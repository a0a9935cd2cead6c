"""``python -m eval bench``: ingestion throughput, retrieval latency and ``ask`` latency on this machine.

Every ratio compares two things measured in the same run, since the machine is shared and noisy.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from bot.app import App
from bot.config import Settings
from eval.common import IOT, console, progress, read_questions, write_report
from knowledge.chunking import index_text
from knowledge.loaders import CourseOverrides, load_course


def _percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def run(corpus: Path, embedder: str, out: Path, local_questions: int = 8) -> list[tuple[str, str]]:
    """Measure and write ``bench.md``; returns the (measure, value) rows."""
    rows: list[tuple[str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="learnbot-bench-"))
    try:
        app = App(Settings.load(env={}, data_dir=work, embedder=embedder, generator="extractive"))
        course = load_course(corpus / "lessons" / "en", CourseOverrides(course_id="iot-en"))
        chunks = app.chunker.chunk_course(course)
        texts = [index_text(c) for c in chunks]
        app.embedder.embed_documents(texts[:8])  # load the model outside the timings

        started = time.perf_counter()
        app.embedder.embed_documents(texts)
        raw = time.perf_counter() - started
        report = app.ingestor.ingest(course)
        again = app.ingestor.ingest(
            load_course(corpus / "lessons" / "en", CourseOverrides(course_id="iot-en"))
        )
        rows += [
            ("chunks", f"{len(chunks)}"),
            (f"embedder raw throughput ({embedder})", f"{len(chunks) / raw:.1f} chunks/s"),
            (
                "ingestion throughput (load + chunk + embed + write)",
                f"{report.chunks / report.seconds:.1f} chunks/s",
            ),
            ("ingestion / raw embedder", f"{raw / report.seconds:.2f}"),
            ("first ingest", f"{report.seconds:.1f} s"),
            (
                "re-ingest unchanged",
                f"{again.seconds:.2f} s ({again.seconds / report.seconds:.1%} of the first)",
            ),
        ]

        questions = read_questions(corpus / "quizzes.en.jsonl")
        for name, retriever in (
            ("dense", app.dense_retriever),
            ("keyword", app.keyword_retriever),
            ("fused", app.retriever),
        ):
            retriever.retrieve("warm up", k=5)
            latencies = []
            for q in questions:
                started = time.perf_counter()
                retriever.retrieve(q.question, k=5)
                latencies.append((time.perf_counter() - started) * 1000)
            p50, p95 = _percentiles(latencies)
            rows.append(
                (f"retrieval {name} p50 / p95 (k=5, {len(chunks)} chunks)", f"{p50:.1f} / {p95:.1f} ms")
            )

        rows.append(_ask_latency(app, questions, "extractive", len(questions)))
        local = App(Settings.load(env={}, data_dir=work, embedder=embedder, generator="local"))
        local.__dict__["embedder"] = app.embedder
        local.generator.load()
        rows.append(_ask_latency(local, questions[::18][:local_questions], "local", local_questions))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(out, rows)
    return rows


def _ask_latency(app: App, questions: list, name: str, count: int) -> tuple[str, str]:  # noqa: ANN001
    latencies = []
    fallbacks = 0
    with progress() as bar:
        task = bar.add_task(f"ask ({name})", total=min(count, len(questions)))
        for q in questions[:count]:
            answer = app.answers.answer(q.question)
            latencies.append(answer.latency_ms)
            fallbacks += "fallback" in answer.backend
            bar.advance(task)
    p50, p95 = _percentiles(latencies)
    note = f", {fallbacks} of {len(latencies)} answers fell back to quoting" if name != "extractive" else ""
    return (
        f"ask {name} p50 / p95 ({len(latencies)} questions{note})",
        f"{p50:.0f} / {p95:.0f} ms (mean {statistics.mean(latencies):.0f})",
    )


def _report(out: Path, rows: list[tuple[str, str]]) -> None:
    table = Table("measure", "value", title="Benchmarks (IoT English course)")
    for measure, value in rows:
        table.add_row(measure, value)
    console.print(table)
    lines = ["# Benchmarks", "", "| measure | value |", "|---|---|"] + [f"| {m} | {v} |" for m, v in rows]
    console.print(f"report: {write_report(out, 'bench.md', chr(10).join(lines) + chr(10))}")


def default_corpus() -> Path:
    """The IoT corpus."""
    return IOT
