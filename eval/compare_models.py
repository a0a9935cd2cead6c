"""``python -m eval models``: the old embedded default against the new one, in one run, on IoT questions.

Old: SmolLM2-135M-Instruct through transformers. New: Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)
through llama.cpp (``xllamacpp``), with ``threads`` threads writing, twice: as shipped (1,200 characters
of passages, each cut to the part that bears on the question; the prompt read on every core) and with
the earlier prompt settings (2,400 characters, the prompt read on ``threads`` threads); optionally the
same Qwen model through transformers. Each development question (the answerable ones in
``eval/datasets/iot_*.jsonl``, written on IoT-for-Beginners) goes through the whole answer chain
(retrieval, the model, the support check) for every back end in turn, so load from other processes
hits them alike. Per back end:
the share of answers that are the model's own words and pass the support check, citation accuracy
(the question's lesson is cited), time to first streamed text, tokens/s while decoding, whole-answer
p50/p95, and the resident memory the model added.
"""

from __future__ import annotations

import copy
import gc
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval.common import app_with_courses, console, write_report
from eval.grounding import DATASETS
from knowledge.answer import QUOTED

CORPUS_COURSES = {"iot-en": "lessons/en", "iot-zh": "lessons/zh"}
QUESTION_FILES = ("iot_covered_noise.jsonl", "iot_siblings.jsonl", "iot_zh_to_en.jsonl")


@dataclass
class Row:
    """Measurements of one back end over all questions."""

    name: str
    rss_mb: float = 0.0
    load_s: float = 0.0
    own: dict[str, list[bool]] = field(default_factory=dict)
    cited: dict[str, list[bool]] = field(default_factory=dict)
    ttft_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)
    samples: list[tuple[str, str]] = field(default_factory=list)


def rss_mb() -> float:
    """This process's resident memory, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dev_questions(per_language: int) -> dict[str, list[dict]]:
    """Answerable development questions by language, spread over the IoT dataset files."""
    found: dict[str, list[dict]] = {"en": [], "zh": []}
    for name in QUESTION_FILES:
        for line in (DATASETS / name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item.get("answerable") and item.get("language") in found:
                found[item["language"]].append(item)
    picked = {}
    for language, items in found.items():
        step = max(len(items) / per_language, 1.0)
        picked[language] = [items[int(i * step)] for i in range(min(per_language, len(items)))]
    return picked


OLD = "old: SmolLM2-135M / transformers"
NEW = "new: Qwen2.5-Coder-0.5B / llama.cpp, as shipped"
NEW_EARLIER = "new, earlier prompt settings (2,400 chars, prompt on the writing threads)"


def build(name: str, data_dir: Path, threads: int, max_new_tokens: int):  # noqa: ANN201
    """One back end, loaded."""
    if name == OLD:
        from knowledge.local_llm import LocalGenerator

        generator = LocalGenerator(data_dir, max_new_tokens=max_new_tokens, packaged="smollm2-135m-instruct")
    elif name in (NEW, NEW_EARLIER):
        from knowledge.generation.llamacpp import LlamaCppGenerator

        earlier = {"max_context_chars": 2400, "prompt_threads": threads} if name == NEW_EARLIER else {}
        generator = LlamaCppGenerator(
            data_dir,
            packaged="qwen2.5-coder-0.5b-instruct",
            threads=threads,
            max_new_tokens=max_new_tokens,
            **earlier,
        )
    else:
        from knowledge.local_llm import LocalGenerator

        generator = LocalGenerator(
            data_dir, max_new_tokens=max_new_tokens, packaged="qwen2.5-coder-0.5b-instruct"
        )
    generator.load()
    return generator


def run(
    corpus: Path,
    out: Path,
    work: Path,
    embedder: str = "use+minilm",
    per_language: int = 6,
    threads: int = 1,
    max_new_tokens: int = 160,
    transformers_qwen: bool = False,
    deadline_s: float = 600.0,
) -> list[Row]:
    """Measure every back end on the same questions; write ``models.md``."""
    courses = {course: corpus / folder for course, folder in CORPUS_COURSES.items()}
    app = app_with_courses(work, embedder, courses, generator="extractive")
    data_dir = work / embedder
    names = [OLD, NEW_EARLIER, NEW]
    if transformers_qwen:
        names.append("Qwen2.5-Coder-0.5B / transformers")
    rows, chains = [], []
    for name in names:
        gc.collect()
        before, started = rss_mb(), time.perf_counter()
        generator = build(name, data_dir, threads, max_new_tokens)
        row = Row(name, rss_mb=rss_mb() - before, load_s=time.perf_counter() - started)
        chain = copy.copy(app.answers)
        chain.generator, chain.deadline_s = generator, deadline_s
        rows.append(row)
        chains.append(chain)
        console.print(f"loaded {name}: +{row.rss_mb:.0f} MB in {row.load_s:.1f} s")
    questions = dev_questions(per_language)
    for language, items in questions.items():
        for item in items:
            for row, chain in zip(rows, chains, strict=True):
                asked = time.perf_counter()
                first: list[float] = []

                def on_text(text: str, first: list[float] = first, asked: float = asked) -> None:
                    if not first:
                        first.append(time.perf_counter() - asked)

                answer = chain.answer(item["question"], on_text=on_text)
                total = time.perf_counter() - asked
                if not answer.grounded:
                    continue
                quoted = any(q in answer.answer for q in QUOTED.values())
                row.own.setdefault(language, []).append(not quoted)
                row.cited.setdefault(language, []).append(
                    any(c.lesson_id == item["lesson_id"] for c in answer.citations)
                )
                row.total_s.append(total)
                if first:
                    row.ttft_s.append(first[0])
                    tokens = getattr(chain.generator, "last_new_tokens", 0)
                    if tokens > 1 and total > first[0]:
                        row.decode_tps.append((tokens - 1) / (total - first[0]))
                if len(row.samples) < 4:
                    row.samples.append((item["question"], answer.answer))
                ttft = f"{first[0]:.1f}s" if first else "-"
                console.print(
                    f"{row.name}: {language} ttft {ttft} total {total:.1f}s own={not quoted}", markup=False
                )
    write_report(out, "models.md", report(rows, threads))
    return rows


def _share(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.2f} ({sum(values)}/{len(values)})" if values else "-"


def _pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(int(q * len(ordered)), len(ordered) - 1)]:.1f}"


def report(rows: list[Row], threads: int) -> str:
    """The Markdown report: one row per back end and language, then sample answers."""
    lines = [
        "# Embedded default: old vs new (one run, same questions, interleaved)",
        "",
        f"llama.cpp threads writing: {threads}. Times in seconds on a shared 2-core machine: compare ratios.",
        "",
        "| back end | lang | own words & supported | citation accuracy | TTFT p50 / p95 | decode tok/s p50 "
        "| answer p50 | answer p95 | RSS added (MB) | load (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for language in sorted(row.own):
            lines.append(
                f"| {row.name} | {language} | {_share(row.own[language])} | {_share(row.cited[language])} "
                f"| {_pct(row.ttft_s, 0.5)} / {_pct(row.ttft_s, 0.95)} | "
                f"{statistics.median(row.decode_tps) if row.decode_tps else 0:.1f} "
                f"| {_pct(row.total_s, 0.5)} | {_pct(row.total_s, 0.95)} "
                f"| {row.rss_mb:.0f} | {row.load_s:.1f} |"
            )
    lines += ["", "## Sample answers", ""]
    for row in rows:
        for question, answer in row.samples:
            lines += [f"- **{row.name}** — {question}", "", "  " + answer.replace("\n", "\n  "), ""]
    return "\n".join(lines) + "\n"
