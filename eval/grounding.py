"""``python -m eval grounding``: calibrate when the bot should say "the course does not cover this".

Covered questions: the IoT quiz questions (English over the English lessons, Chinese over the Chinese
lessons and over the English ones). Uncovered: ``eval/datasets/uncovered.jsonl`` (English and Chinese)
over the same courses. The grounding signals of each are collected, a logistic model over them is
fitted, and the threshold is the one that refuses the most uncovered questions while wrongly refusing
at most 5% of covered ones. The bundled sample course (never used for fitting) checks that the
result carries over to other material.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.common import app_with_courses, console, progress, read_questions, write_report
from knowledge.grounding import Evidence, Weights
from knowledge.models import SearchFilter

DATASETS = Path(__file__).parent / "datasets"
SAMPLES = Path(__file__).resolve().parent.parent / "bot" / "sample_courses"


@dataclass
class Case:
    """One question's grounding signals and whether the course covers it."""

    set_name: str
    covered: bool
    evidence: Evidence


def collect(app, questions, course_id: str, covered: bool, set_name: str) -> list[Case]:  # noqa: ANN001
    """Grounding signals for every question against one course."""
    cases = []
    search_filter = SearchFilter(course_ids=(course_id,))
    with progress() as bar:
        task = bar.add_task(set_name, total=len(questions))
        for q in questions:
            _, evidence = app.answers.evidence(q.question, search_filter)
            cases.append(Case(set_name, covered, evidence))
            bar.advance(task)
    return cases


def _logistic(x: np.ndarray, y: np.ndarray, steps: int = 6000, lr: float = 0.5) -> tuple[np.ndarray, float]:
    """Plain gradient-descent logistic regression with a little L2; returns weights and bias."""
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * (x.T @ (p - y) / len(y) + 1e-3 * w)
        b -= lr * float(np.mean(p - y))
    return w, b


def fit(cases: list[Case]) -> Weights:
    """Fit "covered" on the signals: all four within one language, the embedding alone across languages."""
    same = [c for c in cases if not c.evidence.cross_lingual]
    cross = [c for c in cases if c.evidence.cross_lingual]
    w, b = _logistic(
        np.array([c.evidence.features() for c in same]), np.array([float(c.covered) for c in same])
    )
    wx, bx = _logistic(
        np.array([[c.evidence.dense] for c in cross]), np.array([float(c.covered) for c in cross])
    )
    return Weights(tuple(round(float(v), 3) for v in w), round(b, 3), (round(float(wx[0]), 3), round(bx, 3)))


def rates(cases: list[Case], weights, threshold: float) -> tuple[float, float]:  # noqa: ANN001
    """(share of uncovered refused, share of covered wrongly refused)."""
    refused = [c.evidence.score(weights) < threshold for c in cases]
    unc = [r for r, c in zip(refused, cases, strict=True) if not c.covered]
    cov = [r for r, c in zip(refused, cases, strict=True) if c.covered]
    return (sum(unc) / len(unc) if unc else float("nan"), sum(cov) / len(cov) if cov else float("nan"))


def run(corpus: Path, embedder: str, out: Path, work: Path, max_wrong: float = 0.05) -> dict:
    """Collect signals, fit, choose the threshold, check on the sample course, write ``grounding.md``."""
    app = app_with_courses(
        work,
        embedder,
        {"iot-en": corpus / "lessons/en", "iot-zh": corpus / "lessons/zh"},
        generator="extractive",
    )
    uncovered = read_questions(DATASETS / "uncovered.jsonl")
    unc_en = [q for q in uncovered if not q.qid.startswith("zh")]
    unc_zh = [q for q in uncovered if q.qid.startswith("zh")]
    en, zh = read_questions(corpus / "quizzes.en.jsonl"), read_questions(corpus / "quizzes.zh-cn.jsonl")
    groups = {
        "English": collect(app, en, "iot-en", True, "covered en")
        + collect(app, unc_en, "iot-en", False, "uncovered en"),
        "Chinese": collect(app, zh, "iot-zh", True, "covered zh")
        + collect(app, unc_zh, "iot-zh", False, "uncovered zh"),
        "Chinese over English": collect(app, zh, "iot-en", True, "covered zh>en")
        + collect(app, unc_zh, "iot-en", False, "uncovered zh>en"),
    }
    everything = [c for cases in groups.values() for c in cases]
    weights = fit(everything)
    grid = np.round(np.arange(0.05, 0.96, 0.025), 3)
    # The highest threshold whose wrong-refusal rate stays within the budget in every group.
    ok = [t for t in grid if all(rates(cases, weights, t)[1] <= max_wrong for cases in groups.values())]
    threshold = float(max(ok)) if ok else float(grid[0])
    held_out = _sample_course_check(work, embedder, weights, threshold)
    _report(out, groups, weights, threshold, grid, held_out)
    return {"weights": weights, "threshold": threshold}


def _sample_course_check(
    work: Path, embedder: str, weights, threshold: float
) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """Refusal rates on the bundled security course: its quiz questions (covered) and the uncovered set."""
    from knowledge.loaders import load_course

    app = app_with_courses(
        work / "samples",
        embedder,
        {c: SAMPLES / c for c in ("security-basics", "security-basics-zh")},
        generator="extractive",
    )
    uncovered = read_questions(DATASETS / "uncovered.jsonl")
    result = {}
    for course_id, lang in (("security-basics", "en"), ("security-basics-zh", "zh")):
        course = load_course(SAMPLES / course_id)
        covered = [q for lesson in course.lessons for q in lesson.quiz]
        cases = [
            Case(course_id, True, app.answers.evidence(q.question, SearchFilter(course_ids=(course_id,)))[1])
            for q in covered
        ]
        cases += [
            Case(course_id, False, app.answers.evidence(q.question, SearchFilter(course_ids=(course_id,)))[1])
            for q in uncovered
            if q.qid.startswith(lang)
        ]
        result[course_id] = rates(cases, weights, threshold)
    return result


def _report(out: Path, groups, weights, threshold: float, grid, held_out) -> None:  # noqa: ANN001
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [
        "# Grounding",
        "",
        f"Fitted weights: {weights}",
        "",
        f"Chosen threshold: **{threshold:.3f}** (the highest "
        "threshold that wrongly refuses at most 5% of covered questions in every group)",
        "",
        "| group | uncovered refused | covered wrongly refused |",
        "|---|---|---|",
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, cases in groups.items():
        refused, wrong = rates(cases, weights, threshold)
        lines.append(f"| {name} | {refused:.2f} | {wrong:.2f} |")
        curve = [rates(cases, weights, t) for t in grid]
        ax.plot(grid, [c[0] for c in curve], label=f"{name}: uncovered refused")
        ax.plot(grid, [c[1] for c in curve], linestyle="--", label=f"{name}: covered refused")
    for name, (refused, wrong) in held_out.items():
        lines.append(f"| held out: {name} | {refused:.2f} | {wrong:.2f} |")
    ax.axvline(threshold, color="black", linewidth=1)
    ax.set_xlabel("grounding threshold")
    ax.set_ylabel("share refused")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "grounding.png", dpi=110)
    lines += ["", "![refusal curves](grounding.png)", ""]
    console.print("\n".join(lines))
    write_report(out, "grounding.md", "\n".join(lines))
