"""How much each signal counts in the next-lesson ranking, learned from the learners' own histories.

Course position, where other learners went next, learners with a similar history (ALS),
popularity and the learner's questions all say something about the next lesson, but how much
differs from one catalogue to another: in a course people take in order, position says most;
where they pick freely, the most common next step does. So the weights are fitted, not fixed: for
each learner, the step they took last is explained from the lessons they were ready for just
before it (a conditional logit: the softmax over those lessons). The signals it is explained with
come from a validation split: :func:`recommender.recommend.fit_collaborative` fits a second
collaborative model on every history without its last step, so no signal (next-step counts, ALS
factors, popularity) has seen the step it is weighed on, and the weights are those that predict
held-out steps. (Fitted on the same histories instead, with only the learner's own step taken out of
the counts, ALS's factors had seen every step and got too much weight: the recommender then lost to
"most common next step" on OULAD, Recall@1 0.859 against 0.861; on the validation split it wins.)

Below :data:`MIN_EXAMPLES` examples there is too little to learn from, and
:func:`recommender.recommend.rank` keeps its fixed weights.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recommender.collaborative import Collaborative

Key = tuple[str, str]
FEATURES = ("first", "later", "share", "count", "latent", "popular", "similar")
MIN_EXAMPLES = 200
MAX_EXAMPLES = 8000
L2 = 1e-3


@dataclass(frozen=True)
class Option:
    """A lesson the learner is ready for.

    ``current``: in the course they are on; ``position``: its place among that course's ready lessons.
    """

    key: Key
    current: bool
    position: int


def features(
    collab: Collaborative,
    history: Sequence[Key],
    options: Sequence[Option],
    similarity: Mapping[Key, float] | None = None,
    own: Key | None = None,
) -> np.ndarray:
    """One row of :data:`FEATURES` per option (``own``: a step to leave out of the next-step counts)."""
    keys = [o.key for o in options]
    last = history[-1] if history else None
    after: Counter[Key] = collab.transitions.get(last, Counter()) if last else Counter()
    if own is not None and after.get(own):
        after = after.copy()
        after[own] -= 1
    support = sum(after.get(k, 0) for k in keys)
    trust = support / (support + 5)
    popularity = collab.popularity
    top = max((popularity.get(k, 0) for k in keys), default=0) or 1
    similarity = similarity or {}
    latent = collab._latent(history, keys)
    rows = []
    for o in options:
        share = after.get(o.key, 0) / support if support else 0.0
        rows.append(
            [
                float(o.current and o.position == 0),
                float(o.current and o.position > 0),
                share * trust,
                math.log1p(after.get(o.key, 0)),
                latent.get(o.key, 0.0),
                popularity.get(o.key, 0) / top,
                similarity.get(o.key, 0.0),
            ]
        )
    return np.array(rows, dtype=float).reshape(len(options), len(FEATURES))


def probabilities(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The softmax of the options' scores: how likely each is the next step."""
    if not len(rows):
        return np.zeros(0)
    z = rows @ weights
    z = np.exp(z - z.max())
    return z / z.sum()


def fit(
    collab: Collaborative,
    histories: Mapping[int, Sequence[Key]],
    options_for: Callable[[int, Sequence[Key]], list[Option]],
    similarity: Mapping[int, Mapping[Key, float]] | None = None,
    seed: int = 7,
    leave_own_out: bool = True,
) -> np.ndarray | None:
    """Weights of :data:`FEATURES` from each learner's last step (``None``: too few examples).

    Args:
        collab: The fitted :class:`recommender.collaborative.Collaborative`.
        histories: Learner -> lessons finished, in order.
        options_for: The options a learner had after a history (the same readiness rule as the product).
        similarity: Learner -> closeness of each lesson to their questions.
        seed: Sampling seed when there are more than :data:`MAX_EXAMPLES` learners.
        leave_own_out: Take each learner's own last step out of the next-step counts (``False`` when
            ``collab`` was fitted without the last steps: :func:`recommender.recommend.fit_collaborative`).
    """
    from scipy.optimize import minimize

    learners = [lr for lr, h in histories.items() if len(h) >= 2]
    if len(learners) > MAX_EXAMPLES:
        learners = random.Random(seed).sample(learners, MAX_EXAMPLES)
    examples: list[tuple[np.ndarray, int]] = []
    for learner in learners:
        history = list(histories[learner])
        before, step = history[:-1], history[-1]
        options = options_for(learner, before)
        keys = [o.key for o in options]
        if step not in keys or len(keys) < 2:
            continue  # nothing to learn: a step the rule did not allow, or no choice at all
        rows = features(
            collab, before, options, (similarity or {}).get(learner), own=step if leave_own_out else None
        )
        examples.append((rows, keys.index(step)))
    if len(examples) < MIN_EXAMPLES:
        return None
    # All examples in one matrix, each a segment of rows: the loss and its gradient in a few array
    # operations rather than a Python loop per example (8,000 examples fit in about a second).
    rows = np.vstack([r for r, _ in examples])
    sizes = np.array([len(r) for r, _ in examples])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    chosen = starts + np.array([c for _, c in examples])
    segment = np.repeat(np.arange(len(examples)), sizes)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = rows @ w
        z = z - np.maximum.reduceat(z, starts)[segment]
        e = np.exp(z)
        total = np.add.reduceat(e, starts)
        p = e / total[segment]
        n = len(examples)
        value = float(np.sum(np.log(total) - z[chosen])) / n
        grad = (p @ rows - rows[chosen].sum(axis=0)) / n
        return value + L2 * float(w @ w), grad + 2 * L2 * w

    return np.asarray(minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B").x)
