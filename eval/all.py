"""``python -m eval all``: every measurement that fits in about 20 minutes here, in one report.

Each step writes its own report into ``out``; ``report.md`` then gathers them under one table of
contents (headings shifted one level down), with the time each step took. A step that fails is
reported as failed with its error and the others still run. The learner and recommender steps run
when their modules (``eval/learner.py``, ``eval/recommender.py``) are present.
"""

from __future__ import annotations

import importlib.util
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from eval.common import console, write_report


@dataclass
class Step:
    """One eval in the combined run: its title, the report file it writes, and how to run it."""

    title: str
    report: str
    action: Callable[[], object]
    seconds: float = 0.0
    error: str = ""


def steps(corpus: Path, oulad: Path, out: Path, work: Path, quick: bool) -> list[Step]:
    """The steps, with sample sizes that keep the whole run near 20 minutes on 2 CPU cores.

    Smaller than the standalone commands' defaults where the LLM writes (about 13 s per answer on
    the CPU), and retrieval with the default embedder only: the embedder comparison (a second
    ingestion of both courses, about 3.5 minutes) is ``python -m eval retrieval``'s job.
    """
    from eval import answers, bench, grounding, load, pushes, quizgen, retrieval

    plan = [
        Step("Retrieval quality", "retrieval.md", lambda: retrieval.run(corpus, ["use+minilm"], out, work)),
        Step("Grounding calibration", "grounding.md", lambda: grounding.run(corpus, "use+minilm", out, work)),
        Step(
            "Answer quality",
            "answers.md",
            lambda: answers.run(
                corpus,
                out,
                work,
                quiz_questions=12 if quick else 40,
                llm_questions=4 if quick else 20,
                citation_llm_questions=2 if quick else 4,
                judge_questions=2 if quick else 4,
            ),
        ),
        Step(
            "Speed",
            "bench.md",
            lambda: bench.run(
                corpus,
                "use",
                out,
                local_questions=2 if quick else 4,
                sizes=(1_000, 10_000) if quick else (1_000, 10_000, 100_000),
                generation_questions=2 if quick else 4,
            ),
        ),
        Step(
            "Load", "load.md", lambda: load.run(corpus, out, work / "load", [20] if quick else [50, 200], 2)
        ),
        Step("Scheduled pushes", "pushes.md", lambda: pushes.run(10_000 if quick else 100_000, out)),
        Step(
            "Generated quiz items",
            "quizgen.md",
            lambda: quizgen.run(corpus, out, None, 5 if quick else 8, True),
        ),
    ]
    if importlib.util.find_spec("eval.learner") is not None:
        from eval import learner

        plan.append(Step("At-risk learners", "learner.md", lambda: learner.run(oulad, out)))
    if importlib.util.find_spec("eval.recommender") is not None:
        from eval import recommender

        plan.append(
            Step(
                "Recommendations",
                "recommender.md",
                lambda: recommender.run(oulad, out, 1000 if quick else 3000),
            )
        )
    return plan


def run(corpus: Path, oulad: Path, out: Path, work: Path, quick: bool = False) -> Path:
    """Run every step and write ``report.md`` with a table of contents."""
    plan = steps(corpus, oulad, out, work, quick)
    for step in plan:
        console.rule(step.title)
        began = time.perf_counter()
        try:
            step.action()
        except Exception:  # one failed step must not lose the others' results
            step.error = traceback.format_exc(limit=3)
            console.print(f"[red]{step.title} failed[/red]\n{step.error}")
        step.seconds = time.perf_counter() - began
    return combine(plan, out)


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).strip().replace(" ", "-")


def combine(plan: list[Step], out: Path) -> Path:
    """One Markdown: a table of contents, then each step's report (its headings one level down)."""
    table = Table("step", "report", "minutes", "status", title="eval all")
    toc = ["# Learnbot evaluation", "", "| section | minutes | status |", "|---|---|---|"]
    body: list[str] = []
    for step in plan:
        path = out / step.report
        status = "failed" if step.error else ("ok" if path.is_file() else "no report")
        toc.append(f"| [{step.title}](#{_anchor(step.title)}) | {step.seconds / 60:.1f} | {status} |")
        table.add_row(step.title, step.report, f"{step.seconds / 60:.1f}", status)
        body += ["", f"## {step.title}", ""]
        if step.error:
            body += ["```", step.error.strip(), "```"]
        elif path.is_file():
            text = path.read_text(encoding="utf-8")
            text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)
            body.append(re.sub(r"^## .*\n", "", text, count=1))  # the step's own title is the section
    total = sum(s.seconds for s in plan) / 60
    toc += ["", f"Total: {total:.1f} minutes on this machine.", ""]
    console.print(table)
    path = write_report(out, "report.md", "\n".join(toc + body) + "\n")
    console.print(f"report: {path}")
    return path
