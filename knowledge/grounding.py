"""Is the course material strong enough evidence to answer? Several signals, one score in [0, 1].

A similarity cutoff alone does not separate covered from uncovered questions (an off-topic question
can still land near some passage), so the score combines:

* ``dense``: cosine similarity of the best passage to the question (the only signal that works
  across languages);
* ``coverage``: the share of the question's key terms (IDF-weighted over the index) found in the
  top passages;
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
    agreement: float
    cross_lingual: bool

    def score(self, weights: tuple[float, float, float, float] | None = None) -> float:
        """A single evidence score in [0, 1] (a logistic combination of the signals)."""
        w_dense, w_coverage, w_agreement, bias = weights or DEFAULT_WEIGHTS
        if self.cross_lingual:  # shared words mean nothing across languages: lean on the embedding
            z = (w_dense + w_coverage) * self.dense + w_agreement * 0.5 + bias
        else:
            z = w_dense * self.dense + w_coverage * self.coverage + w_agreement * self.agreement + bias
        return 1.0 / (1.0 + math.exp(-z))


DEFAULT_WEIGHTS = (8.0, 4.0, 1.0, -7.0)


def assess(question: str, hits: Sequence[ScoredChunk], document_frequency: Callable[[str], float],
           top: int = 4) -> Evidence:
    """Measure how well ``hits`` (fused results, best first) cover ``question``.

    Args:
        question: The learner's question.
        hits: Retrieved passages with their dense and keyword scores.
        document_frequency: Share of indexed chunks containing a term (for IDF weights).
        top: How many passages count for coverage and agreement.
    """
    if not hits:
        return Evidence(0.0, 0.0, 0.0, False)
    dense = max((h.dense_score or 0.0) for h in hits)
    terms = set(tokenize(question))
    passage_terms = set()
    for hit in hits[:top]:
        passage_terms.update(tokenize(f"{hit.chunk.lesson_title} {hit.chunk.heading} {hit.chunk.text}"))
    weights = {t: -math.log(max(document_frequency(t), 1e-4)) for t in terms}
    total = sum(weights.values())
    coverage = sum(w for t, w in weights.items() if t in passage_terms) / total if total else 0.0
    dense_lessons = [h.chunk.lesson_id for h in sorted(hits, key=lambda h: -(h.dense_score or -1))[:top]
                     if h.dense_score is not None]
    keyword_lessons = [h.chunk.lesson_id for h in sorted(hits, key=lambda h: -(h.keyword_score or -1))[:top]
                       if h.keyword_score is not None]
    agreement = 1.0 if set(dense_lessons[:2]) & set(keyword_lessons[:2]) else 0.0
    cross = detect_language(question) != hits[0].chunk.language
    return Evidence(dense=dense, coverage=coverage, agreement=agreement, cross_lingual=cross)
