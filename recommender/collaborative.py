"""What other learners did: next-step transitions, implicit ALS on completions, popularity.

- **Transitions**: for the lesson a learner finished last, which lesson other learners finished
  right after it ("most learners who finished Sensors took Actuators next").
- **Implicit ALS** (the ``implicit`` package, CPU) on the learner x lesson completion matrix, once
  there are at least :data:`MIN_LEARNERS` learners and :data:`MIN_COMPLETIONS` completions; a
  learner's vector is recalculated from their own history, so a newcomer needs no refit.
- **Popularity** (completions per lesson) stands in for ALS when there is not enough data.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)
Key = tuple[str, str]
"""(course_id, lesson_id)."""
MIN_LEARNERS = 50
MIN_COMPLETIONS = 500
MIN_SUPPORT = 5
"""Learners who finished a lesson before its transitions are quoted."""


@dataclass(frozen=True)
class Signal:
    """One candidate's collaborative score (0-1) and the reason behind it."""

    score: float
    reason: str


class Collaborative:
    """Fitted on learners' completion histories (each in the order they finished lessons).

    Example:
        >>> collab = Collaborative.fit({1: [("c", "a"), ("c", "b")], 2: [("c", "a")]})
        >>> collab.signals([("c", "a")], [("c", "b")], titles)
    """

    def __init__(
        self,
        transitions: dict[Key, Counter[Key]],
        popularity: Counter[Key],
        items: list[Key],
        item_factors: np.ndarray | None,
        model: object | None,
        regularization: float = 0.05,
        alpha: float = 20.0,
    ) -> None:
        self.transitions = transitions
        self.popularity = popularity
        self.items = items
        self.index = {key: n for n, key in enumerate(items)}
        self.item_factors = item_factors
        self.model = model
        self.regularization = regularization
        self.alpha = alpha
        self._gram = item_factors.T @ item_factors if item_factors is not None else None
        self.blend: np.ndarray | None = None
        """Learned weights of the ranking's signals (:mod:`recommender.blend`), set after fitting."""

    @property
    def uses_als(self) -> bool:
        """Whether there was enough data for ALS (else popularity)."""
        return self.model is not None

    @classmethod
    def fit(
        cls, histories: Mapping[int, Sequence[Key]], factors: int = 32, iterations: int = 15, seed: int = 7
    ) -> Collaborative:
        """Count transitions and popularity; fit ALS when there is enough data."""
        transitions: dict[Key, Counter[Key]] = defaultdict(Counter)
        popularity: Counter[Key] = Counter()
        for history in histories.values():
            popularity.update(set(history))
            for before, after in zip(history, history[1:], strict=False):
                transitions[before][after] += 1
        items = sorted(popularity)
        completions = sum(popularity.values())
        if len(histories) < MIN_LEARNERS or completions < MIN_COMPLETIONS:
            return cls(dict(transitions), popularity, items, None, None)
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        index = {key: n for n, key in enumerate(items)}
        matrix = _matrix([list(h) for h in histories.values()], index)
        with threadpool_limits(1, "blas"):  # implicit's own advice: BLAS threads fight its threads
            model = AlternatingLeastSquares(
                factors=factors, regularization=0.05, alpha=20.0, iterations=iterations, random_state=seed
            )
            model.fit(matrix, show_progress=False)
        return cls(dict(transitions), popularity, items, np.asarray(model.item_factors), model, 0.05, 20.0)

    def confidence(self, history: Sequence[Key], candidates: Sequence[Key]) -> float:
        """How far the next-step counts can be trusted (0-1).

        Learners who went from the learner's last lesson to one of the candidates, against
        :data:`MIN_SUPPORT`.
        """
        after = self.transitions.get(history[-1], Counter()) if history else Counter()
        support = sum(after.get(key, 0) for key in candidates)
        return support / (support + MIN_SUPPORT)

    def signals(
        self, history: Sequence[Key], candidates: Sequence[Key], titles: Mapping[Key, str]
    ) -> dict[Key, Signal]:
        """Each candidate's score from other learners, with a reason (candidates with no signal left out)."""
        result: dict[Key, Signal] = {}
        if not candidates:
            return result
        last = history[-1] if history else None
        after = self.transitions.get(last, Counter()) if last else Counter()
        # Where learners went next *among the lessons this learner may take now*: the shares are
        # renormalised over the candidates, and trusted as far as enough learners made the step.
        support = sum(after.get(key, 0) for key in candidates)
        confidence = support / (support + MIN_SUPPORT)
        latent = self._latent(history, candidates)
        top_popular = max((self.popularity.get(c, 0) for c in candidates), default=0)
        for key in candidates:
            share = after.get(key, 0) / support if support else 0.0
            other = (
                latent.get(key, 0.0)
                if latent
                else (self.popularity.get(key, 0) / top_popular if top_popular else 0.0)
            )
            score = 0.85 * share * confidence + 0.15 * other  # other learners like you: a tie-breaker
            if score <= 0:
                continue
            if share >= 0.2 and support >= MIN_SUPPORT and last is not None:
                quantity = "most learners" if share >= 0.5 else f"{share:.0%} of learners"
                reason = f"{quantity} who finished {titles.get(last, last[1])} took it next"
            elif latent:
                reason = "learners with a history like yours took it"
            else:
                reason = "popular with other learners"
            result[key] = Signal(score, reason)
        return result

    def user_vector(self, items: Sequence[int]) -> np.ndarray:
        """A learner's ALS factors from the items they finished, in closed form.

        The least-squares step ALS itself takes for a user: confidence ``1 + alpha`` on finished items,
        preference 0 elsewhere.
        """
        assert self.item_factors is not None and self._gram is not None
        seen = self.item_factors[list(items)]
        factors = self.item_factors.shape[1]
        lhs = self._gram + self.alpha * seen.T @ seen + self.regularization * np.eye(factors)
        return np.linalg.solve(lhs, (1 + self.alpha) * seen.sum(axis=0))

    def _latent(self, history: Sequence[Key], candidates: Sequence[Key]) -> dict[Key, float]:
        """ALS scores of the candidates for this history, scaled to 0-1 (empty without ALS)."""
        if self.model is None or self.item_factors is None:
            return {}
        known = [self.index[k] for k in history if k in self.index]
        wanted = [(k, self.index[k]) for k in candidates if k in self.index]
        if not known or not wanted:
            return {}
        user = self.user_vector(sorted(set(known)))
        raw = np.array([float(self.item_factors[i] @ user) for _, i in wanted])
        low, high = float(raw.min()), float(raw.max())
        span = high - low
        return {
            k: (float(v) - low) / span if span > 1e-9 else 0.5 for (k, _), v in zip(wanted, raw, strict=True)
        }


def _matrix(histories: list[list[Key]], index: Mapping[Key, int]) -> csr_matrix:
    rows, cols = [], []
    for row, history in enumerate(histories):
        for key in set(history):
            rows.append(row)
            cols.append(index[key])
    return csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(histories), len(index))
    )
