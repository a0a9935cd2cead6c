"""``python -m eval bench``: ingestion, retrieval latency by index size, generation speed, answer latency.

Every ratio compares two things measured in the same run, since the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from bot.app import App
from bot.config import Settings
from bot.messages import IncomingMessage
from eval import bench_generation, bench_scale
from eval.common import IOT, console, progress, read_questions, write_report
from knowledge.chunking import index_text
from knowledge.loaders import CourseOverrides, load_course
from knowledge.models import SearchFilter


def _percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def run(
    corpus: Path,
    embedder: str,
    out: Path,
    local_questions: int = 8,
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000),
    generation_questions: int = 6,
) -> list[tuple[str, str]]:
    """Measure and write ``bench.md`` (and ``bench_retrieval.png``); returns the (measure, value) rows."""
    rows: list[tuple[str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="learnbot-bench-"))
    try:
        app = App(Settings.load(env={}, data_dir=work, embedder=embedder, generator="extractive"))
        course = load_course(corpus / "lessons" / "en", CourseOverrides(course_id="iot-en"))
        chunks = app.chunker.chunk_course(course)
        texts = [index_text(c) for c in chunks]
        app.embedder.embed_documents(texts[:8])  # load the model outside the timings

        started = time.perf_counter()
        vectors = np.asarray(app.embedder.embed_documents(texts), dtype=np.float32)
        raw = time.perf_counter() - started
        report = app.ingestor.ingest(course)
        again = app.ingestor.ingest(
            load_course(corpus / "lessons" / "en", CourseOverrides(course_id="iot-en"))
        )
        rows += [
            ("chunks (IoT English course)", f"{len(chunks)}"),
            (f"embedder raw throughput ({embedder})", f"{len(chunks) / raw:.1f} chunks/s"),
            (
                "ingestion throughput (load + chunk + embed + write)",
                f"{report.chunks / report.seconds:.1f} chunks/s",
            ),
            ("ingestion / raw embedder", f"{raw / report.seconds:.2f}"),
            (
                "re-ingest unchanged",
                f"{again.seconds:.2f} s ({again.seconds / report.seconds:.1%} of the first)",
            ),
        ]
        questions = read_questions(corpus / "quizzes.en.jsonl")
        queries = [q.question for q in questions]
        scale = {}
        if sizes:
            scale = bench_scale.measure(app.embedder, chunks, vectors, list(sizes), queries, work)
            bench_scale.plot(scale, out / "bench_retrieval.png")
        for size, by_name in scale.items():
            built, rebuilt = by_name.pop(bench_scale.BUILD)
            cells = ", ".join(f"{n} {p50:.1f} / {p95:.1f}" for n, (p50, p95) in by_name.items())
            rows.append((f"retrieval p50 / p95 ms at {size:,} chunks (k=5)", cells))
            rows.append(
                (
                    f"keyword index at {size:,} chunks: build / rebuild after a change",
                    f"{built:.1f} / {rebuilt:.1f} s",
                )
            )

        settings = Settings.load(env={}, data_dir=work, embedder=embedder, generator="local")
        local = App(settings, embedder=app.embedder)
        if generation_questions:
            rows += _generation(local, app, questions, generation_questions)
        rows.append(_console_latency(app, queries, "extractive", len(queries)))
        if local_questions:
            local.generator.load()
            rows.append(_console_latency(local, queries[::18], "local", local_questions))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(out, rows, bool(sizes))
    return rows


def _generation(local: App, app: App, questions: list, count: int) -> list[tuple[str, str]]:  # noqa: ANN001
    """Before / after generation speed on real questions over their retrieved passages."""
    local.generator.load()  # converts the packaged model into the data dir once
    picked = questions[:: max(len(questions) // count, 1)][:count]
    cases = []
    for q in picked:
        hits, _ = app.answers.evidence(q.question, SearchFilter(course_ids=("iot-en",)))
        cases.append((q.question, hits[: app.settings.top_k], "en"))
    summary = bench_generation.compare(local.generator.model_path, cases, local.settings.max_new_tokens)
    rows = []
    batched = {name: s for name, s in summary.items() if "batcher" in name}
    summary = {name: s for name, s in summary.items() if name not in batched}
    for name, s in summary.items():
        rows.append(
            (
                f"generation, local SmolLM2-135M on CPU, {name} ({len(cases)} answers, "
                f"~{s['mean_prompt_tokens']:.0f} prompt tokens)",
                f"TTFT p50 {s['ttft_p50_ms']:.0f} ms, {s['tokens_per_s']:.1f} tokens/s overall, "
                f"{s['decode_tokens_per_s']:.1f} tokens/s decoding, "
                f"{s['mean_new_tokens']:.0f} tokens per answer",
            )
        )
    (before, b), (after, a) = summary.items()
    rows.append(
        (
            "generation after / before (same run)",
            f"TTFT {b['ttft_p50_ms'] / a['ttft_p50_ms']:.2f}x faster, overall tokens/s "
            f"{a['tokens_per_s'] / b['tokens_per_s']:.2f}x, identical answers {a['same_text']:.0%}",
        )
    )
    for name, s in batched.items():
        rows.append(
            (
                f"generation, {name} (CPU)",
                f"TTFT p50 {s['ttft_p50_ms']:.0f} ms, {s['tokens_per_s']:.1f} tokens/s in all",
            )
        )
    return rows


def _console_latency(app: App, questions: list[str], name: str, count: int) -> tuple[str, str]:
    """Answer latency through the console path (``Router.handle``), one learner per question."""
    latencies = []

    async def ask_all() -> None:
        with progress() as bar:
            task = bar.add_task(f"console answers ({name})", total=min(count, len(questions)))
            for n, text in enumerate(questions[:count]):
                began = time.perf_counter()
                await app.bot.handle(IncomingMessage("console", f"bench-{n}", f"bench-{n}", text))
                latencies.append((time.perf_counter() - began) * 1000)
                bar.advance(task)

    asyncio.run(ask_all())
    p50, p95 = _percentiles(latencies)
    return (
        f"console answer latency p50 / p95, {name} back end ({len(latencies)} questions)",
        f"{p50:.0f} / {p95:.0f} ms",
    )


def _report(out: Path, rows: list[tuple[str, str]], plotted: bool) -> None:
    table = Table("measure", "value", title="Benchmarks")
    for measure, value in rows:
        table.add_row(measure, value)
    console.print(table)
    lines = ["# Benchmarks", "", "| measure | value |", "|---|---|"] + [f"| {m} | {v} |" for m, v in rows]
    if plotted:
        lines += ["", "![retrieval latency against index size](bench_retrieval.png)"]
    console.print(f"report: {write_report(out, 'bench.md', chr(10).join(lines) + chr(10))}")


def default_corpus() -> Path:
    """The IoT corpus."""
    return IOT
