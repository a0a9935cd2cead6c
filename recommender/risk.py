"""The at-risk model: will a learner fail or drop out of a course, and why.

One small model serves both the product and its evaluation. Its features are the ones both worlds
have, computed from "what was known by now":

==================  ==============================================  ==========================================
feature             OULAD (``python -m eval learner``)              Learnbot (:mod:`recommender.profile`)
==================  ==============================================  ==========================================
``mean_score``      mean assessment score known so far (0-1),       quiz accuracy in the course so far
                    a score known 14 days after hand-in
``last_score``      latest known assessment score                   accuracy of the latest answers
``score_trend``     latest minus the mean of the earlier ones       recent accuracy minus earlier accuracy
``no_scores``       no score known yet                              no quiz answers yet
``missed_share``    assessments due by now not handed in            lessons due by now (one a week since
                                                                    enrolling, :data:`LESSON_PACE_DAYS`)
                                                                    not done
``zero_mean``       mean score with the missing ones as 0           quiz accuracy x share of due lessons done
``not_started``     nothing handed in at all                        no lesson opened at all
``ahead``           assessments handed in before they were due      lessons done before they were due
``late_days``       mean days handed in after the deadline          mean days the overdue reviews are late
``silence_days``    days since the last hand-in                     days since the last activity
``tenure_days``     days since registration                         days since enrollment
``early_days``      mean days handed in before the deadline         mean days lessons were done before they
                                                                    were due (lesson *k* due *k* weeks after
                                                                    enrolling)
``max_late_days``   most days any work was handed in late           days the most overdue review is late
``last_gap_days``   days between the last two hand-ins              days between the last two study days
                                                                    (lessons done, quiz answers)
==================  ==============================================  ==========================================

OULAD has data the product does not (clicks in the learning environment, previous attempts, credits
studied, banked assessments, demographics, assessment weights, a presentation start day shared by
the whole cohort): they are left out, so the model only learns what the product can feed it. Peer
features (a score against the cohort's on the same assessment, the course's past failure rate) have
product counterparts (other learners' accuracy on the same quiz items, the course's completion
rate), but each adds about 0.01 AUC at most on OULAD and would make one learner's risk depend on everyone
else's data, so they are left out too (``python -m eval learner`` documents the measurements).

The model is an additive logistic regression on binned features: each feature is cut at ten
quantiles of the OULAD training rows and every bin gets its own weight (scikit-learn fits it; the
product only needs the bin edges and weights, stored as JSON in ``risk_model.json`` by
``python -m eval learner``, no pickled estimator). Bins let a feature act non-linearly (a week of
silence says little, a month says much) while a learner's score still splits into per-feature
contributions (each the feature's bin weight against the average learner's): the largest positive
ones become the reasons a person reads ("no activity for 21 days", "scores falling: 40% lately, 75%
before"). On held-out OULAD it is level with gradient boosting on the same inputs at day 60 and 90
(0.02 AUC below at day 30), and ships as plain numbers where boosting would need a pickled model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = (
    "mean_score",
    "last_score",
    "score_trend",
    "no_scores",
    "missed_share",
    "zero_mean",
    "not_started",
    "ahead",
    "late_days",
    "silence_days",
    "tenure_days",
    "early_days",
    "max_late_days",
    "last_gap_days",
)
DIRECTION = {
    "mean_score": -1,
    "last_score": -1,
    "zero_mean": -1,
    "missed_share": 1,
    "late_days": 1,
    "silence_days": 1,
    "max_late_days": 1,
    "last_gap_days": 1,
}
"""Features whose bin weights may only rise (1) or fall (-1) with the value: higher scores never add
risk, longer silence never lowers it, so a reason shown never contradicts common sense."""
MODEL_PATH = Path(__file__).with_name("risk_model.json")
LESSON_PACE_DAYS = 7
"""The product's expected pace: one lesson a week after enrolling (OULAD's deadlines stand for it)."""
AT_RISK = 0.75
"""Probability from which a learner is listed as at risk. OULAD's base rate (about 40% fail or
withdraw) lifts every probability; at 0.75 about one held-out OULAD learner in six is listed (11-19%
by day), and two in three to six in seven of them did fail or withdraw; of a healthy simulated team,
1% (``python -m eval learner`` prints all of these). At 0.5, half of an active team was listed."""
NEUTRAL_SCORE = 0.65
"""Stands in for the mean score before the first one (about the average): having no scores yet says
little by itself; ``no_scores`` and ``missed_share`` carry what it does say."""
GRACE_DAYS = 14
"""No one is listed as at risk in their first two weeks in a course: OULAD snapshots start at day 30,
so the model has not seen brand-new learners (who have no scores yet by nature)."""


@dataclass(frozen=True)
class Snapshot:
    """What is known about one learner in one course at one moment (the model's raw inputs).

    Scores are 0-1; ``None`` means no score yet. ``due`` counts the lessons (assessments) expected by
    now, ``missed`` those of them not done, ``ahead`` those done before they were expected.
    """

    mean_score: float | None
    last_score: float | None
    earlier_score: float | None
    missed: int
    due: int
    late_days: float
    silence_days: float
    tenure_days: float
    started: bool = True
    ahead: int = 0
    finished: bool = False
    """Every lesson of the course done: nothing left to drop out of (never listed)."""
    early_days: float = 0.0
    """Mean days lessons were done before they were due."""
    max_late_days: float = 0.0
    """Days the most overdue review is late (OULAD: the latest hand-in)."""
    last_gap_days: float = 0.0
    """Days between the last two study days (0 with fewer than two)."""

    @property
    def settled(self) -> bool:
        """Whether the learner has been in the course long enough (:data:`GRACE_DAYS`) to be judged."""
        return self.tenure_days >= GRACE_DAYS

    @property
    def not_started(self) -> bool:
        """Never opened a lesson (OULAD: nothing handed in), though settled in the course."""
        return not self.started and self.settled

    def vector(self) -> list[float]:
        """The feature vector in :data:`FEATURES` order (transforms included)."""
        no_scores = self.mean_score is None
        mean = self.mean_score if self.mean_score is not None else NEUTRAL_SCORE
        last = self.last_score if self.last_score is not None else mean
        trend = last - self.earlier_score if self.earlier_score is not None and not no_scores else 0.0
        missed_share = self.missed / self.due if self.due else 0.0
        # "missing = 0": what was expected and not done scores nothing (the stronger OULAD baseline)
        zero_mean = (0.0 if no_scores else mean) * (1.0 - missed_share) if self.started else 0.0
        return [
            mean,
            last,
            trend,
            float(no_scores),
            missed_share,
            zero_mean,
            float(not self.started),
            math.log1p(max(self.ahead, 0)),
            math.log1p(min(max(self.late_days, 0.0), 60.0)),
            math.log1p(min(max(self.silence_days, 0.0), 120.0)),
            math.log1p(min(max(self.tenure_days, 0.0), 400.0)),
            math.log1p(min(max(self.early_days, 0.0), 60.0)),
            math.log1p(min(max(self.max_late_days, 0.0), 120.0)),
            math.log1p(min(max(self.last_gap_days, 0.0), 120.0)),
        ]


@dataclass(frozen=True)
class Risk:
    """A learner's probability of failing or dropping out, and the reasons, most important first."""

    probability: float
    reasons: list[str]
    settled: bool = True
    not_started: bool = False
    finished: bool = False

    @property
    def at_risk(self) -> bool:
        """Listed: never started, or past :data:`AT_RISK`.

        Never in the first :data:`GRACE_DAYS`, nor once the course is finished.
        """
        if self.finished or not self.settled:
            return False
        return self.not_started or self.probability >= AT_RISK


def reason_text(feature: str, snap: Snapshot) -> str | None:
    """A reason a person understands for one feature pushing the risk up (``None``: nothing to say)."""
    if feature in ("not_started", "zero_mean") and not snap.started:
        return f"has not opened a lesson in {snap.tenure_days:.0f} days"
    if feature in ("mean_score", "no_scores") and snap.mean_score is None:
        return "no quiz answers yet"
    if feature in ("mean_score", "zero_mean") and snap.mean_score is not None:
        if feature == "zero_mean" and snap.missed:
            return f"{snap.missed} of {snap.due} lessons expected by now not done"
        return f"low scores: {snap.mean_score:.0%} right so far"
    if feature in ("last_score", "score_trend") and snap.last_score is not None:
        if snap.earlier_score is not None and snap.last_score < snap.earlier_score:
            return f"scores falling: {snap.last_score:.0%} lately, {snap.earlier_score:.0%} before"
        return f"low recent scores: {snap.last_score:.0%}"
    if feature == "missed_share" and snap.missed:
        return f"{snap.missed} of {snap.due} lessons expected by now not done"
    if feature == "late_days" and snap.late_days >= 1:
        return f"reviews {snap.late_days:.0f} days overdue on average"
    if feature == "silence_days" and snap.silence_days >= 1:
        return f"no activity for {snap.silence_days:.0f} days"
    if feature == "max_late_days" and snap.max_late_days >= 1:
        return f"a review {snap.max_late_days:.0f} days overdue"
    if feature == "last_gap_days" and snap.last_gap_days >= 7:
        return f"{snap.last_gap_days:.0f} days between the last two study days"
    if feature == "tenure_days":
        return f"enrolled {snap.tenure_days:.0f} days ago"
    return None


class RiskModel:
    """Additive logistic regression over binned :data:`FEATURES`.

    Feature ``f`` falls in bin ``searchsorted(edges[f], x, side="right")`` and adds ``weights[f][bin]``
    to the log-odds; ``baseline[f]`` is the average learner's share, so a contribution is what the
    feature adds against an average learner.

    Example:
        >>> model = RiskModel.load()
        >>> risk = model.explain(snapshot)
        >>> risk.probability, risk.reasons
    """

    def __init__(
        self,
        edges: list[list[float]],
        weights: list[list[float]],
        intercept: float,
        baseline: list[float] | None = None,
    ) -> None:
        if not len(edges) == len(weights) == len(FEATURES):
            raise ValueError(
                f"expected {len(FEATURES)} features, got {len(edges)} edges, {len(weights)} weights"
            )
        for cut, weight in zip(edges, weights, strict=True):
            if len(weight) != len(cut) + 1:
                raise ValueError("each feature needs one weight more than it has edges")
        self.edges = [np.asarray(e, dtype=float) for e in edges]
        self.weights = [np.asarray(w, dtype=float) for w in weights]
        self.intercept = float(intercept)
        self.baseline = np.asarray(baseline if baseline is not None else [0.0] * len(FEATURES), dtype=float)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, bins: int = 10, c: float = 1.0) -> RiskModel:
        """Fit on raw feature rows ``x`` (``n x len(FEATURES)``) and labels ``y`` (1 = failed or withdrew).

        Edges are the distinct inner quantiles of each column (a yes/no feature gets one edge); the
        weights of the :data:`DIRECTION` features are made monotone afterwards.
        """
        from scipy.optimize import minimize_scalar
        from sklearn.isotonic import isotonic_regression
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(x, dtype=float)
        levels = np.linspace(0, 1, bins + 1)[1:-1]
        edges = []
        for column in x.T:
            cut = np.unique(np.quantile(column, levels, method="higher"))
            edges.append(cut[cut > column.min()])  # a bin below the smallest value would stay empty
        blocks = [_one_hot(column, cut) for column, cut in zip(x.T, edges, strict=True)]
        model = LogisticRegression(C=c, max_iter=3000)
        model.fit(np.hstack(blocks), y)
        coef, start, weights = model.coef_[0], 0, []
        for feature, block in zip(FEATURES, blocks, strict=True):
            weight = coef[start : start + block.shape[1]]
            start += block.shape[1]
            if feature in DIRECTION:  # pool adjacent bins that go against the known direction
                weight = isotonic_regression(
                    weight, sample_weight=block.sum(axis=0) + 1e-9, increasing=DIRECTION[feature] > 0
                )
            weights.append(weight)
        fitted = cls([e.tolist() for e in edges], [w.tolist() for w in weights], 0.0)
        logits = fitted._parts(x).sum(axis=1)
        # the pooled weights moved the mean log-odds: the intercept is fitted again on its own
        fitted.intercept = float(
            minimize_scalar(lambda b: float(np.mean(np.logaddexp(0, logits + b) - y * (logits + b)))).x
        )
        fitted.baseline = fitted._parts(x).mean(axis=0)
        return fitted

    def _parts(self, x: np.ndarray) -> np.ndarray:
        """Each feature's bin weight, per row (before the baseline is taken off)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return np.column_stack(
            [
                w[np.searchsorted(e, x[:, n], side="right")]
                for n, (e, w) in enumerate(zip(self.edges, self.weights, strict=True))
            ]
        )

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's additive share of the log-odds against the average learner, per row."""
        return self._parts(x) - self.baseline

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of failing or withdrawing, one per row."""
        logits = self._parts(x).sum(axis=1) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def explain(self, snap: Snapshot, top: int = 3) -> Risk:
        """The probability for one snapshot and up to ``top`` reasons that push it up."""
        return self.explain_many([snap], top)[0]

    def explain_many(self, snaps: list[Snapshot], top: int = 3) -> list[Risk]:
        """:meth:`explain` for many snapshots at once (one pass over the bins)."""
        if not snaps:
            return []
        x = np.array([s.vector() for s in snaps])
        parts = self.contributions(x)
        probabilities = self.predict(x)
        order = np.argsort(-parts, axis=1)[:, : top + 2]
        result = []
        for row, snap in enumerate(snaps):
            reasons: list[str] = []
            for index in order[row]:
                if parts[row, index] <= 0.05 or len(reasons) >= top:
                    break
                text = reason_text(FEATURES[int(index)], snap)
                if text and text not in reasons:
                    reasons.append(text)
            if snap.not_started:  # the reason a manager must see first, whatever the weights say
                text = reason_text("not_started", snap)
                reasons = [text, *[r for r in reasons if r != text]][:top] if text else reasons
            result.append(
                Risk(float(probabilities[row]), reasons, snap.settled, snap.not_started, snap.finished)
            )
        return result

    def to_dict(self) -> dict[str, object]:
        """JSON-ready bin edges and weights."""
        return {
            "kind": "binned logistic regression",
            "features": list(FEATURES),
            "edges": [e.tolist() for e in self.edges],  # exact: a value on an edge keeps its bin
            "weights": [np.round(w, 6).tolist() for w in self.weights],
            "baseline": np.round(self.baseline, 6).tolist(),
            "intercept": round(self.intercept, 6),
        }

    def save(self, path: Path = MODEL_PATH, **about: object) -> None:
        """Write the bins and weights (and what they were fitted on) as JSON."""
        path.write_text(json.dumps({**self.to_dict(), **about}, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> RiskModel:
        """The model written by :meth:`save` (the packaged one by default).

        Raises:
            ValueError: the file was written for other features.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES or "edges" not in data:
            raise ValueError(f"{path} was fitted on other features or another model: {data['features']}")
        return cls(data["edges"], data["weights"], data["intercept"], data["baseline"])


def _one_hot(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Indicator columns of the bins ``column`` falls in (``len(edges) + 1`` of them)."""
    index = np.searchsorted(edges, column, side="right")
    return (index[:, None] == np.arange(len(edges) + 1)[None, :]).astype(float)
