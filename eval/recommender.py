"""``python -m eval recommender``: next-lesson recommendations offline, and the cost at 30,000 learners.

Two sets of learner histories, each learner's last step held out:

- **simulated** (:mod:`recommender.simulate`: prerequisites respected by construction, documented
  signals, a premium course nobody may see);
- **OULAD assessment sequences**: each module presentation is a course whose lessons are its
  assessments in deadline order (no declared prerequisites: lesson order); a learner's history is
  the assessments they submitted, in submission order (learners with at least 3).

The recommender (:func:`recommender.recommend.rank`, collaborative signal fitted on every
learner's history without its held-out step; the blend's weights learned on a validation split of
those training histories, each one's own last step, never on the held-out steps) is compared in the
same run with three baselines that draw from the same lessons it may (the learner's courses,
lessons they are ready for, :func:`baselines`): **most common next step**, **course order** and
**popularity**. Reported: NDCG@5, Recall@5, Recall@1, and the share of recommendation lists with a
lesson that breaks a prerequisite, an entitlement or the translation rule (the recommender's must
be 0).
The held-out step is a new lesson, so the lists rank next lessons only (weak-prerequisite reviews
need quiz results; the contract tests cover them).

Then the cost at scale: fitting the collaborative model on 30,000 simulated learners, and building
one team digest (every member scored for risk, the chart drawn) and the weekly digest job for a
SQLite store of 30,000 learners.
"""

from __future__ import annotations

import asyncio
import csv
import math
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from bot.store import Store
from bot.store.rows import CourseRow
from bot.testing import FakeAdapter, HashEmbedder
from eval.cohort import populate_store
from eval.common import console, progress, write_report
from recommender.catalogue import Catalogue
from recommender.collaborative import Collaborative, Key
from recommender.recommend import (
    LearnerState,
    Recommendation,
    fit_collaborative,
    rank,
    ready,
    violates,
)
from recommender.records import CourseRecord, LessonRow
from recommender.simulate import SimLearner, simulate

K = 5
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ndcg(ranked: list[Key], target: Key) -> float:
    return next((1 / math.log2(i + 2) for i, key in enumerate(ranked[:K]) if key == target), 0.0)


def _state(
    cat: Catalogue, history: list[Key], courses: list[str], similarity: dict[Key, float]
) -> LearnerState:
    done: dict[str, set[str]] = defaultdict(set)
    for course_id, lesson_id in history:
        done[course_id].add(lesson_id)
    visible = {c for c, row in cat.courses.items() if not row.premium}
    return LearnerState(
        done=dict(done),
        history=list(history),
        recent_course=history[-1][0] if history else None,
        enrolled=set(courses),
        visible=visible,
        similarity=similarity,
    )


def baselines(
    cat: Catalogue, state: LearnerState, courses: list[str], collab: Collaborative, popularity: Counter[Key]
) -> dict[str, list[Key]]:
    """The baselines' lists, drawn from the same ready lessons as the recommender's.

    - **course order**: ready lessons, the current course first, in course order;
    - **most common next step**: ready lessons by how many learners went there straight from the
      learner's last lesson, then course order;
    - **popularity**: ready lessons by how many learners finished them, then course order.
    """
    options = [
        (c, row.lesson_id)
        for c in sorted(courses, key=lambda c: c != state.recent_course)
        if c in state.visible
        for row in ready(cat.lessons[c], state.done.get(c, set()))
    ]
    position = {key: i for i, key in enumerate(options)}
    after = collab.transitions.get(state.history[-1], Counter()) if state.history else Counter()
    return {
        "course order": options[:K],
        "most common next step": sorted(options, key=lambda k: (-after.get(k, 0), position[k]))[:K],
        "popularity": sorted(options, key=lambda k: (-popularity.get(k, 0), position[k]))[:K],
    }


METHODS = ("recommender", "most common next step", "course order", "popularity")


def evaluate(
    name: str,
    cat: Catalogue,
    learners: list[SimLearner],
    similarity: dict[int, dict[Key, float]],
    blended: bool = True,
) -> dict:
    """NDCG@5, Recall@5, Recall@1 and violation shares of the recommender and the baselines."""
    usable = [lr for lr in learners if len(lr.history) >= 2]
    train = {lr.learner_id: lr.history[:-1] for lr in usable}
    started = time.perf_counter()
    courses = {lr.learner_id: lr.courses for lr in usable}
    collab = fit_collaborative(cat, train, courses, similarity) if blended else Collaborative.fit(train)
    fit_seconds = time.perf_counter() - started
    popularity = Counter(key for history in train.values() for key in set(history))
    scores: dict[str, list[float]] = defaultdict(list)
    with progress() as bar:
        task = bar.add_task(f"{name}: rank", total=len(usable))
        for lr in usable:
            bar.advance(task)
            history, target = lr.history[:-1], lr.history[-1]
            state = _state(cat, history, lr.courses, similarity.get(lr.learner_id, {}))
            recs = rank(state, cat, collab, K)
            lists = {"recommender": [(r.course_id, r.lesson_id) for r in recs if not r.locked]}
            lists.update(baselines(cat, state, lr.courses, collab, popularity))
            for method, ranked in lists.items():
                scores[f"{method}:ndcg"].append(_ndcg(ranked, target))
                scores[f"{method}:recall"].append(float(target in ranked[:K]))
                scores[f"{method}:hit1"].append(float(ranked[:1] == [target]))
                as_recs = (
                    recs
                    if method == "recommender"
                    else [Recommendation(c, lid, "", 0, "", "next") for c, lid in ranked]
                )
                scores[f"{method}:violations"].append(float(any(violates(cat, state, r) for r in as_recs)))
    summary = {key: sum(values) / len(values) for key, values in scores.items()}
    return {
        "name": name,
        "learners": len(usable),
        "als": collab.uses_als,
        "blend": collab.blend is not None,
        "fit_s": fit_seconds,
        **summary,
    }


def simulated(learners: int) -> dict:
    """The simulated set, with question-to-lesson similarity from the hash embedder."""
    cat, sims, texts = simulate(learners)
    embedder = HashEmbedder()
    keys = list(texts)
    lesson_vectors = embedder.embed_documents([texts[k] for k in keys])
    similarity = {}
    for lr in sims:
        if lr.questions:
            query = embedder.embed_documents(lr.questions).mean(axis=0)
            query /= max(float((query @ query) ** 0.5), 1e-9)
            similarity[lr.learner_id] = {
                k: max(0.0, float(v @ query)) for k, v in zip(keys, lesson_vectors, strict=True)
            }
    return evaluate("simulated", cat, sims, similarity)


def oulad(folder: Path) -> dict:
    """OULAD assessment sequences as courses of assessments."""
    with (folder / "assessments.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["assessment_type"] != "Exam" and r["date"].strip()]
    where: dict[str, str] = {}
    lessons: dict[str, list[LessonRow]] = defaultdict(list)
    for r in sorted(
        rows, key=lambda r: (r["code_module"], r["code_presentation"], int(r["date"]), r["id_assessment"])
    ):
        course = f"{r['code_module']}-{r['code_presentation']}"
        where[r["id_assessment"]] = course
        lid = r["id_assessment"]
        lessons[course].append(
            LessonRow(
                course, lid, f"{r['assessment_type']} {lid}", len(lessons[course]), "", [], None, [], "v1", 1
            )
        )
    courses: dict[str, CourseRecord] = {c: CourseRow(c, c) for c in lessons}
    submitted: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    position = {row.lesson_id: row.position for rows_ in lessons.values() for row in rows_}
    with (folder / "studentAssessment.csv").open(encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            course = where.get(r["id_assessment"])
            if course and r["date_submitted"].strip():
                submitted[(course, r["id_student"])].append(
                    (int(r["date_submitted"]), position[r["id_assessment"]], r["id_assessment"])
                )
    learners = []
    for n, ((course, _), subs) in enumerate(sorted(submitted.items()), 1):
        if len(subs) >= 3:
            learners.append(SimLearner(n, [course], "", [(course, lid) for _, _, lid in sorted(subs)]))
    return evaluate("OULAD assessments", Catalogue(courses, dict(lessons)), learners, {})


def at_scale(learners: int) -> dict[str, float]:
    """Seconds to fit the collaborative model, build one team digest, and run the weekly digest job."""
    from bot.chat.learning import LearningChat
    from bot.jobs.digest import plan_digests, send_digests
    from bot.jobs.pushes import JobDeps
    from bot.learning import LearningLoop
    from recommender.digest import build_digest

    cat, sims, _ = simulate(learners, seed=5)
    started = time.perf_counter()  # what the product's hourly refit does: both models and the blend
    fit_collaborative(
        cat, {lr.learner_id: lr.history for lr in sims}, {lr.learner_id: lr.courses for lr in sims}
    )
    fit = time.perf_counter() - started
    folder = Path(tempfile.mkdtemp(prefix="learnbot-digest-"))
    try:
        store = Store(folder / "learnbot.db")
        started = time.perf_counter()
        populate_store(store, learners, NOW, team="everyone")
        populate = time.perf_counter() - started
        started = time.perf_counter()
        digest = build_digest(store, "everyone", NOW)
        png = digest.chart()
        one = time.perf_counter() - started
        store.add_team_manager("everyone", "test", "boss", NOW)
        store.record_chat(store.learner_for("test", "boss"), "test", "dm-boss", True, NOW)
        adapter = FakeAdapter("test")
        deps = JobDeps(store, LearningChat(store, LearningLoop(store)), {"test": adapter})
        planned = len(plan_digests(deps, NOW))
        started = time.perf_counter()
        sent = asyncio.run(send_digests(deps, NOW))
        job = time.perf_counter() - started
        again = asyncio.run(send_digests(deps, NOW))
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "learners": learners,
        "fit_s": fit,
        "populate_s": populate,
        "digest_s": one,
        "job_s": job,
        "planned": planned,
        "sent": sent,
        "sent_again": again,
        "png_bytes": len(png),
        "at_risk": digest.at_risk_total,
        "active": digest.active,
    }


def run(oulad_folder: Path | None, out: Path, learners: int = 3000, scale: int | None = None) -> list[dict]:
    """Evaluate on simulated and OULAD histories, time the 30,000-learner case, write the report.

    ``scale`` (learners for the timing; 0 skips it) defaults to 30,000, or 10 x ``learners`` below 3,000
    (a quick run).
    """
    if scale is None:
        scale = 30_000 if learners >= 3000 else 10 * learners
    results = [simulated(learners)]
    if oulad_folder is not None and oulad_folder.is_dir():
        results.append(oulad(oulad_folder))
    else:
        console.print(f"[yellow]OULAD not found at {oulad_folder}; simulated histories only[/yellow]")
    timing = at_scale(scale) if scale else None
    table = Table(title=f"Next-lesson recommendations, last step held out (@{K})")
    for column in ("histories", "learners", "method", "NDCG@5", "Recall@5", "Recall@1", "violations"):
        table.add_column(column, justify="right")
    lines = [
        "# Next-lesson recommendations",
        "",
        "Each learner's last step is held out; the collaborative signal is fitted on the rest. "
        "*Violations*: share of lists with a lesson whose prerequisites are not done, or from a course "
        "the learner may not see (a marked upsell without content is not one).",
        "",
        "| histories | learners | method | NDCG@5 | Recall@5 | Recall@1 | violations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for method in METHODS:
            signals = "ALS" if r["als"] else "popularity"
            weights = "learned" if r["blend"] else "fixed"
            label = method + (
                f" ({signals} + transitions, {weights} weights)" if method == "recommender" else ""
            )
            cells = [
                r["name"],
                f"{r['learners']:,}",
                label,
                f"{r[method + ':ndcg']:.3f}",
                f"{r[method + ':recall']:.3f}",
                f"{r[method + ':hit1']:.3f}",
                f"{r[method + ':violations']:.3f}",
            ]
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    if timing:
        lines += [
            "",
            f"## At {timing['learners']:,} learners (simulated, SQLite file)",
            "",
            "| step | seconds |",
            "|---|---|",
            "| fit the collaborative model and its blend (ALS twice: validation split) | "
            f"{timing['fit_s']:.2f} |",
            f"| build one team digest of every learner (risk for each, chart) | {timing['digest_s']:.2f} |",
            f"| weekly digest job (plan, record, build, send) to the manager | {timing['job_s']:.2f} |",
            f"| (writing the synthetic store) | {timing['populate_s']:.1f} |",
            "",
            f"The job sent {timing['sent']} digest (a rerun sent {timing['sent_again']}); the chart is "
            f"{timing['png_bytes']:,} bytes; {timing['active']:,} learners active in the week, "
            f"{timing['at_risk']:,} at risk (the digest names the 10 most at risk).",
        ]
        console.print(
            f"at {timing['learners']:,}: ALS fit {timing['fit_s']:.2f}s, digest {timing['digest_s']:.2f}s, "
            f"job {timing['job_s']:.2f}s"
        )
    out.mkdir(parents=True, exist_ok=True)
    _chart(results, out / "recommender.png")
    path = write_report(out, "recommender.md", "\n".join(lines) + "\n")
    console.print(f"report: {path}")
    return results


def _chart(results: list[dict], path: Path) -> None:
    """NDCG@5 and Recall@1 per method, one group per set of histories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(METHODS)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=100)
    for ax, metric, label in ((axes[0], "ndcg", "NDCG@5"), (axes[1], "hit1", "Recall@1")):
        for m, method in enumerate(METHODS):
            xs = [i + (m - (len(METHODS) - 1) / 2) * width for i in range(len(results))]
            ax.bar(xs, [r[f"{method}:{metric}"] for r in results], width=width, label=method)
        ax.set_xticks(range(len(results)), [r["name"] for r in results])
        ax.set_ylim(0, 1)
        ax.set_title(label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(METHODS), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # the legend sits below the bars, never over them
    fig.savefig(path)
    plt.close(fig)
