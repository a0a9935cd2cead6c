"""Is the course material strong enough evidence to answer? Several signals, one score in [0, 1].

A similarity cutoff alone does not separate covered from uncovered questions (an off-topic question
can still land near some passage), so the score combines:

* ``dense``: cosine similarity of the best passage to the question (the only signal that works
  across languages);
* ``coverage``: the largest share of the question's key terms (IDF-weighted over the index) that
  one of the top passages holds (terms scattered over several passages are weaker evidence);
* ``known``: the share of the question's key terms that occur anywhere in the index (a question
  about Kubernetes asked of a gardening course is mostly made of words the course never uses);
* ``agreement``: whether the keyword and the dense retriever put the same lesson near the top.

The weights and the threshold are calibrated by ``python -m eval grounding`` (see README).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.index import tokenize
from knowledge.loaders import detect_language
from knowledge.models import ScoredChunk


@dataclass(frozen=True)
class Evidence:
    """The grounding signals for one question and its retrieved passages."""

    dense: float
    coverage: float
    known: float
    agreement: float
    cross_lingual: bool

    def features(self) -> tuple[float, float, float, float]:
        """The signals in the order of the weights."""
        return (self.dense, self.coverage, self.known, self.agreement)

    def score(self, weights: Weights | None = None) -> float:
        """A single evidence score in [0, 1]: a logistic combination of the signals.

        Across languages shared words mean nothing, so only the embedding counts there (with the
        cross-lingual weights).
        """
        weights = weights or DEFAULT_WEIGHTS
        if self.cross_lingual:
            w_dense, bias = weights.cross_lingual
            z = w_dense * self.dense + bias
        else:
            z = sum(w * x for w, x in zip(weights.same_language, self.features(), strict=True)) + weights.bias
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Weights:
    """Logistic weights: (dense, coverage, known, agreement) + bias; and (dense, bias) across languages."""

    same_language: tuple[float, float, float, float]
    bias: float
    cross_lingual: tuple[float, float]


# Fitted by `python -m eval grounding` on the IoT quiz questions (covered) and
# eval/datasets/uncovered.jsonl; see README, Grounding.
DEFAULT_WEIGHTS = Weights(
    same_language=(5.412, 1.916, 5.412, 0.889), bias=-5.904, cross_lingual=(10.453, -2.246)
)


def assess(
    question: str,
    hits: Sequence[ScoredChunk],
    document_frequency: Callable[[str], float],
    index_size: int,
    top: int = 4,
) -> Evidence:
    """Measure how well ``hits`` (fused results, best first) cover ``question``.

    Args:
        question: The learner's question.
        hits: Retrieved passages with their dense and keyword scores.
        document_frequency: Share of indexed chunks containing a term (for IDF weights).
        index_size: How many chunks are indexed.
        top: How many passages count for coverage and agreement.
    """
    if not hits:
        return Evidence(0.0, 0.0, 0.0, 0.0, False)
    dense = max((h.dense_score or 0.0) for h in hits)
    terms = set(tokenize(question))
    # IDF weights; a term the index never uses weighs like one found in a single chunk, so that
    # filler words a small course happens to lack do not dominate.
    rarest = 1.0 / max(index_size, 1)
    weights = {t: -math.log(max(document_frequency(t), rarest)) for t in terms}
    total = sum(weights.values())
    coverage = 0.0
    for hit in hits[:top]:
        passage_terms = set(tokenize(f"{hit.chunk.lesson_title} {hit.chunk.heading} {hit.chunk.text}"))
        if total:
            coverage = max(coverage, sum(w for t, w in weights.items() if t in passage_terms) / total)
    known = sum(w for t, w in weights.items() if document_frequency(t) > 0) / total if total else 0.0
    dense_lessons = [
        h.chunk.lesson_id
        for h in sorted(hits, key=lambda h: -(h.dense_score or -1))[:top]
        if h.dense_score is not None
    ]
    keyword_lessons = [
        h.chunk.lesson_id
        for h in sorted(hits, key=lambda h: -(h.keyword_score or -1))[:top]
        if h.keyword_score is not None
    ]
    agreement = 1.0 if set(dense_lessons[:2]) & set(keyword_lessons[:2]) else 0.0
    cross = detect_language(question) != hits[0].chunk.language
    return Evidence(dense=dense, coverage=coverage, known=known, agreement=agreement, cross_lingual=cross)
