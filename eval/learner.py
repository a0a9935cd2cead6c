"""``python -m eval learner``: the at-risk model on real learners (OULAD), against two baselines.

The Open University Learning Analytics Dataset has 32,593 registrations in 22 module presentations,
with assessment deadlines, each submission's day and score, registration and unregistration days and
the final result. For day 30, 60 and 90 of a presentation, each learner still registered that day
becomes a :class:`recommender.risk.Snapshot` built only from what was known by then (hand-ins and
their days, scores :data:`MARKING_LAG` days after hand-in, days since the last hand-in and between
the last two, days since registration); the label is a final result of Fail or Withdrawn. The model
is fitted on the 2013 and 2014B presentations and tested on the held-out 2014J ones (a later
cohort, every module); the baselines (*missing = 0*: 1 - mean score of the assessments due, the
ones not handed in as 0; *mean so far*: 1 - mean of the known scores) are scored on the same
learners, and so are two references fitted on the same rows (gradient boosting; a plain logistic
regression).

The fitted bins and weights are written to ``recommender/risk_model.json`` (``--save``), which is
the model the product uses for its own learners, with the same features from its own tables
(:func:`recommender.profile.course_snapshot`; the mapping is in :mod:`recommender.risk`).
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table
from sklearn.metrics import roc_auc_score

from eval.common import SHARED, console, progress, write_report
from recommender.risk import AT_RISK, MODEL_PATH, RiskModel, Snapshot

OULAD = SHARED / "corpora" / "oulad"
DAYS = (30, 60, 90)
TEST_PRESENTATIONS = ("2014J",)


@dataclass
class Registration:
    """One learner in one module presentation."""

    module: str
    presentation: str
    student: str
    registered: int
    unregistered: int | None
    failed: bool


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _day(value: str) -> int | None:
    value = value.strip()
    return int(float(value)) if value and value != "?" else None


def load_oulad(folder: Path) -> tuple[list[Registration], dict, dict]:
    """Registrations, deadlines by presentation, submissions by (presentation, student)."""
    info = {
        (r["code_module"], r["code_presentation"], r["id_student"]): r["final_result"]
        for r in _rows(folder / "studentInfo.csv")
    }
    registrations = []
    for r in _rows(folder / "studentRegistration.csv"):
        key = (r["code_module"], r["code_presentation"], r["id_student"])
        result = info.get(key)
        if result is None:
            continue
        registrations.append(
            Registration(
                *key,
                registered=_day(r["date_registration"]) or 0,
                unregistered=_day(r["date_unregistration"]),
                failed=result in ("Fail", "Withdrawn"),
            )
        )
    deadlines: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    assessment_of: dict[str, tuple[str, str]] = {}
    for r in _rows(folder / "assessments.csv"):
        if r["assessment_type"] == "Exam":
            continue
        deadline = _day(r["date"])
        if deadline is None:
            continue
        deadlines[(r["code_module"], r["code_presentation"])][r["id_assessment"]] = deadline
        assessment_of[r["id_assessment"]] = (r["code_module"], r["code_presentation"])
    submissions: dict[tuple[str, str, str], list[tuple[int, str, float | None]]] = defaultdict(list)
    for r in _rows(folder / "studentAssessment.csv"):
        where = assessment_of.get(r["id_assessment"])
        submitted = _day(r["date_submitted"])
        if where is None or submitted is None:
            continue
        score = float(r["score"]) / 100 if r["score"].strip() not in ("", "?") else None
        submissions[(*where, r["id_student"])].append((submitted, r["id_assessment"], score))
    return registrations, deadlines, submissions


MARKING_LAG = 14
"""Days between handing work in and its score being known (a tutor marks it): the product reads a
quiz score at once, but OULAD's scores arrive later, and a model evaluated as if they did not
would promise more than it can do."""


def snapshot(
    reg: Registration, deadlines: dict[str, int], subs: list, day: int, lag: int = MARKING_LAG
) -> Snapshot:
    """What was known about one registration on ``day`` (nothing later is looked at).

    A hand-in is known the day it happens; its score ``lag`` days later.
    """
    known = sorted((s for s in subs if s[0] <= day), key=lambda s: s[0])
    scores = [s[2] for s in known if s[2] is not None and s[0] + lag <= day]
    handed = {s[1] for s in known}
    due = [a for a, deadline in deadlines.items() if deadline <= day]
    lateness = [max(0, s[0] - deadlines[s[1]]) for s in known if s[1] in deadlines]
    earliness = [max(0, deadlines[s[1]] - s[0]) for s in known if s[1] in deadlines]
    last_seen = known[-1][0] if known else max(reg.registered, 0)
    days = sorted({s[0] for s in known})
    return Snapshot(
        mean_score=float(np.mean(scores)) if scores else None,
        last_score=scores[-1] if scores else None,
        earlier_score=float(np.mean(scores[:-1])) if len(scores) > 1 else None,
        missed=sum(1 for a in due if a not in handed),
        due=len(due),
        late_days=float(np.mean(lateness)) if lateness else 0.0,
        silence_days=float(max(0, day - last_seen)),
        tenure_days=float(day - reg.registered),
        started=bool(known),
        ahead=sum(1 for a in handed if deadlines.get(a, -1) > day),
        early_days=float(np.mean(earliness)) if earliness else 0.0,
        max_late_days=float(max(lateness)) if lateness else 0.0,
        last_gap_days=float(days[-1] - days[-2]) if len(days) > 1 else 0.0,
    )


def missing_zero(deadlines: dict[str, int], subs: list, day: int, lag: int = MARKING_LAG) -> float:
    """The stronger baseline's risk: 1 - mean score of the assessments due by ``day``, missing = 0.

    Work handed in but not marked yet is left out; with nothing due or marked, 0.5.
    """
    marked = {s[1]: s[2] for s in subs if s[0] <= day and s[0] + lag <= day and s[2] is not None}
    handed = {s[1] for s in subs if s[0] <= day}
    values = [
        marked.get(a, 0.0) for a, d in deadlines.items() if d <= day and (a in marked or a not in handed)
    ]
    return 1.0 - float(np.mean(values)) if values else 0.5


def build(
    folder: Path, lag: int = MARKING_LAG
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per day: feature rows, labels, both baselines' scores, a held-out mask (learners still registered)."""
    registrations, deadlines, submissions = load_oulad(folder)
    result = {}
    with progress() as bar:
        task = bar.add_task("OULAD snapshots", total=len(DAYS) * len(registrations))
        for day in DAYS:
            rows, labels, weak, strong, test = [], [], [], [], []
            for reg in registrations:
                bar.advance(task)
                if reg.unregistered is not None and reg.unregistered <= day:
                    continue  # gone already: nothing left to predict
                where = deadlines[(reg.module, reg.presentation)]
                subs = submissions.get((reg.module, reg.presentation, reg.student), [])
                snap = snapshot(reg, where, subs, day, lag)
                rows.append(snap.vector())
                labels.append(reg.failed)
                weak.append(1.0 - (snap.mean_score or 0.0))
                strong.append(missing_zero(where, subs, day, lag))
                test.append(reg.presentation in TEST_PRESENTATIONS)
            result[day] = (np.array(rows), np.array(labels), np.array(weak), np.array(strong), np.array(test))
    return result


def team_shares(model: RiskModel, seed: int = 3) -> dict[str, float]:
    """Share listed as at risk in two simulated teams of 200 at day 40 (the product's own inputs).

    *Healthy*: on pace (a lesson a week, give or take one), 60-95% right, active in the last 5 days,
    reviews at most 3 days late. *Mixed*: :func:`eval.cohort.populate_store`'s timing
    population (skill 40-95%, random diligence with reviews, histories that stop early).
    """
    import random
    import tempfile
    from datetime import UTC, datetime, timedelta

    from bot.store import Store
    from eval.cohort import populate_store
    from recommender.digest import build_digest
    from recommender.profile import course_snapshot

    rng = random.Random(seed)
    now = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)

    def at(days: float) -> str:
        return (now - timedelta(days=days)).isoformat(timespec="seconds")

    snaps = []
    for _ in range(200):
        skill = rng.uniform(0.6, 0.95)
        answers = [(at(40 - 3 * k), int(rng.random() < skill)) for k in range(12)]
        done = min(6, max(0, 6 + rng.choice((-1, 0, 0, 1))))
        cards = [at(rng.uniform(-5, 3)) for _ in range(4)]
        finished = [at(max(0.5, 40 - 7 * k + rng.uniform(0, 3))) for k in range(1, done + 1)]  # on pace
        snaps.append(
            course_snapshot(
                answers,
                cards,
                at(rng.uniform(0, 5)),
                at(40),
                now,
                lessons_done=done,
                lessons_total=8,
                done_at=finished,
            )
        )
    healthy = sum(r.at_risk for r in model.explain_many(snaps)) / len(snaps)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "team.db")
        populate_store(store, 200, now, team="mixed")
        digest = build_digest(store, "mixed", now, model=model)
        mixed = digest.at_risk_total / digest.members
        store.close()
    return {"healthy": healthy, "mixed": mixed}


def precision_at(scores: np.ndarray, labels: np.ndarray, share: float = 0.1) -> float:
    """Share of true positives among the ``share`` highest-scored learners."""
    top = max(1, int(round(len(scores) * share)))
    order = np.argsort(-scores, kind="stable")[:top]
    return float(labels[order].mean())


def run(oulad: Path, out: Path, save: bool = False, lag: int = MARKING_LAG) -> dict[int, dict[str, float]]:
    """Fit on the training presentations (all days pooled), score each day on the held-out ones.

    ``save`` writes the coefficients to ``recommender/risk_model.json``, the product's model.
    """
    started = time.perf_counter()
    data = build(oulad, lag)
    build_seconds = time.perf_counter() - started
    x_train = np.vstack([x[~t] for x, *_, t in data.values()])
    y_train = np.concatenate([y[~t] for _, y, *_, t in data.values()])
    started = time.perf_counter()
    model = RiskModel.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # References on the same inputs and rows: what boosting adds, and the plain linear model the
    # product used before the bins
    boosted = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=7)
    boosted.fit(x_train, y_train)
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    results: dict[int, dict[str, float]] = {}
    for day, (x, y, weak, strong, test) in data.items():
        predicted = model.predict(x[test])
        flagged = predicted >= AT_RISK
        results[day] = {
            "learners": int(test.sum()),
            "positive": float(y[test].mean()),
            "auc_model": float(roc_auc_score(y[test], predicted)),
            "auc_weak": float(roc_auc_score(y[test], weak[test])),
            "auc_strong": float(roc_auc_score(y[test], strong[test])),
            "auc_boosted": float(roc_auc_score(y[test], boosted.predict_proba(x[test])[:, 1])),
            "auc_linear": float(roc_auc_score(y[test], linear.predict_proba(x[test])[:, 1])),
            "p10_model": precision_at(predicted, y[test]),
            "p10_strong": precision_at(strong[test], y[test]),
            "flagged": float(flagged.mean()),
            "flagged_precision": float(y[test][flagged].mean()) if flagged.any() else 0.0,
        }
    if save:
        model.save(
            MODEL_PATH,
            fitted_on=f"OULAD 2013B, 2013J, 2014B; days 30, 60, 90 pooled; marking lag {lag} days",
            held_out=list(TEST_PRESENTATIONS),
            train_rows=int(len(y_train)),
        )
    columns = (
        "day",
        "learners",
        "fail/withdraw",
        "AUC model",
        "AUC missing=0",
        "AUC mean so far",
        "AUC boosted",
        "AUC linear",
        "P@10% model",
        "P@10% missing=0",
        f"listed (p>={AT_RISK})",
        "of them failed",
    )
    table = Table(title=f"At-risk (Fail or Withdrawn), held-out 2014J, scores known {lag} days after hand-in")
    for column in columns:
        table.add_column(column, justify="right")
    lines = [
        "# At-risk model on OULAD",
        "",
        f"Training rows (2013B, 2013J, 2014B; days 30/60/90 pooled): {len(y_train):,}. "
        f"Held out: every {', '.join(TEST_PRESENTATIONS)} presentation. A score is known {lag} days after "
        "the work is handed in (marking lag); a hand-in itself is known the same day.",
        "Baselines: *missing = 0*, 1 - mean score of the assessments due so far with the ones not handed "
        "in counted as 0 (the stronger); *mean so far*, 1 - mean of the known scores (none = 0).",
        "Learners already unregistered by the day are left out (nothing left to predict).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for day, r in results.items():
        cells = [
            str(day),
            f"{r['learners']:,}",
            f"{r['positive']:.2f}",
            f"{r['auc_model']:.3f}",
            f"{r['auc_strong']:.3f}",
            f"{r['auc_weak']:.3f}",
            f"{r['auc_boosted']:.3f}",
            f"{r['auc_linear']:.3f}",
            f"{r['p10_model']:.3f}",
            f"{r['p10_strong']:.3f}",
            f"{r['flagged']:.1%}",
            f"{r['flagged_precision']:.1%}",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    spread = sorted(
        (
            (float(w.max() - w.min()), f)
            for f, w in zip(model.to_dict()["features"], model.weights, strict=True)
        ),
        reverse=True,
    )
    weights = ", ".join(f"{f} {value:.2f}" for value, f in spread)
    teams = team_shares(model)
    lines += [
        "",
        f"Listed as at risk (probability >= {AT_RISK}, or never started) in simulated teams of 200 at day "
        f"40: healthy (on pace, 60-95% right, active this week) {teams['healthy']:.0%}; mixed "
        f"(`populate_store`: skill 40-95%, random review diligence, histories that stop) "
        f"{teams['mixed']:.0%}.",
        "",
        f"How far each feature moves the log-odds (highest bin weight minus lowest): {weights}.",
        "",
        "The model is an additive logistic regression on binned features (ten quantile bins each, "
        "edges and weights shipped as JSON). *Boosted*: scikit-learn's HistGradientBoostingClassifier "
        "on the same features and rows, a reference for what a free non-linear model adds; *linear*: "
        "a plain logistic regression on the standardised features (the product's previous model form).",
        "",
        f"Building the snapshots took {build_seconds:.1f} s; fitting {fit_seconds:.2f} s "
        f"on {len(y_train):,} rows.",
    ]
    console.print(table)
    console.print(f"fit {fit_seconds:.2f} s on {len(y_train):,} rows; snapshots {build_seconds:.1f} s")
    path = write_report(out, "learner.md", "\n".join(lines) + "\n")
    _chart(results, out / "learner.png")
    console.print(f"report: {path}")
    return results


def _chart(results: dict[int, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = list(results)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(days, [results[d]["auc_model"] for d in days], marker="o", label="at-risk model")
    ax.plot(days, [results[d]["auc_strong"] for d in days], marker="s", label="missing = 0")
    ax.plot(days, [results[d]["auc_weak"] for d in days], marker="^", label="mean score so far")
    ax.set_xlabel("day of the presentation")
    ax.set_ylabel("ROC-AUC (held-out 2014J)")
    ax.set_ylim(0.5, 1.0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
