"""Is the course material strong enough evidence to answer? Several signals, one score in [0, 1].

A similarity cutoff alone does not separate covered from uncovered questions (an off-topic question
can still land near some passage), so the score combines:

* ``dense``: cosine similarity of the best passage to the question;
* ``coverage``: the largest share of the question's key terms (IDF-weighted over the index) that
  one of the top passages holds (terms scattered over several passages are weaker evidence);
* ``known``: the share of the question's key terms that occur anywhere in the index (a question
  about Kubernetes asked of a gardening course is mostly made of words the course never uses);
* ``agreement``: whether the keyword and the dense retriever put the same lesson near the top;
* ``novelty``: whether the question names a specific term the course never uses. A question one step
  beside the course ("How do I pair a Zigbee device?" asked of an IoT course) shares most words with it,
  but its one topic word is unknown to the course and rare in general language (wordfreq's Zipf scale
  tells "Zigbee" from "actually"). Chat noise (names, ticket numbers) is removed before all of this.

When the question and the best passage differ in language, coverage and known share are measured on
the question's dictionary translation (:func:`knowledge.crosslingual.translate_query`): each Chinese
word is held by a passage that holds one of its English renderings.

The weights and the threshold are calibrated by ``python -m eval grounding`` (see README).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.crosslingual import holds, translate_query
from knowledge.models import ScoredChunk
from knowledge.text import CJK, detect_language, tokenize


@dataclass(frozen=True)
class Evidence:
    """The grounding signals for one question and its retrieved passages."""

    dense: float
    coverage: float
    known: float
    agreement: float
    cross_lingual: bool
    novelty: float = 0.0
    language: str = ""
    """The question's language (it picks the calibration the score uses)."""

    def features(self) -> tuple[float, float, float, float, float]:
        """The signals in the order of the weights."""
        return (self.dense, self.coverage, self.known, self.agreement, self.novelty)

    def score(self, weights: Weights | None = None) -> float:
        """A single evidence score in [0, 1]: a logistic combination of the signals.

        Across languages the question's words are matched through their dictionary renderings
        (:mod:`knowledge.crosslingual`), which are noisier than shared words, so such evidence has weights
        of its own (``cross_lingual``: embedding, coverage, known share and novelty; no agreement).
        Within one language the weights of the question's language are used when there are some:
        keyword coverage of jieba-segmented Chinese is not on the scale of English coverage, so one set
        of weights would make one threshold too strict for one language and too lax for the other.
        """
        weights = weights or DEFAULT_WEIGHTS
        if self.cross_lingual:
            *cross, bias = weights.cross_lingual
            signals = (self.dense, self.coverage, self.known, self.novelty)
            z = sum(w * x for w, x in zip(cross, signals, strict=True)) + bias
        else:
            same, bias = weights.for_language(self.language)
            z = sum(w * x for w, x in zip(same, self.features(), strict=True)) + bias
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Weights:
    """Logistic weights of the evidence signals.

    ``same_language`` weighs (dense, coverage, known, agreement, novelty) and adds ``bias``;
    ``cross_lingual`` is (dense, coverage, known, novelty, bias), coverage and known measured through
    the question's dictionary translation. ``by_language`` holds weights fitted on one language's
    questions, ``(language, weights, bias)``; a language without its own uses ``same_language``.
    """

    same_language: tuple[float, float, float, float, float]
    bias: float
    cross_lingual: tuple[float, float, float, float, float]
    by_language: tuple[tuple[str, tuple[float, float, float, float, float], float], ...] = ()

    def for_language(self, language: str) -> tuple[tuple[float, float, float, float, float], float]:
        """The same-language weights and bias for questions in ``language``."""
        for name, weights, bias in self.by_language:
            if name == language:
                return weights, bias
        return self.same_language, self.bias


# Fitted by `python -m eval grounding` on the IoT development sets (quiz, sibling, noisy and cross-language
# questions covered; near-domain and far-off questions not), whole catalogue; see README, Grounding.
DEFAULT_WEIGHTS = Weights(
    same_language=(3.585, 3.853, 3.469, 0.901, -3.352),
    bias=-4.731,
    cross_lingual=(5.018, 3.967, 3.238, -3.911, -3.481),
    by_language=(
        ("en", (4.576, 4.894, 4.071, 1.557, -3.617), -7.436),
        ("zh", (3.02, 2.696, 3.785, 1.023, -3.634), -3.92),
    ),
)


def assess(
    question: str,
    hits: Sequence[ScoredChunk],
    document_frequency: Callable[[str], float],
    index_size: int,
    top: int = 4,
    co_frequency: Callable[[Sequence[str]], float] | None = None,
) -> Evidence:
    """Measure how well ``hits`` (fused results, best first) cover ``question``.

    Args:
        question: The learner's question.
        hits: Retrieved passages with their dense and keyword scores.
        document_frequency: Share of indexed chunks containing a term (for IDF weights).
        index_size: How many chunks are indexed.
        top: How many passages count for coverage and agreement.
        co_frequency: Share of chunks holding all of several terms: a dictionary rendering of more than
            one word ("income tax" for 所得税) is known only where its words stand in one chunk. Without
            it, a rendering counts as known when each of its words occurs somewhere.
    """
    if not hits:
        return Evidence(0.0, 0.0, 0.0, 0.0, False, 0.0)
    dense = max((h.dense_score or 0.0) for h in hits)
    language = detect_language(question)
    cross = language != hits[0].chunk.language
    # Across languages the question's words are looked for through their dictionary renderings.
    groups = translate_query(question) if cross else [[[t]] for t in set(tokenize(question))]
    # IDF weights; a word the index never uses weighs like one found in a single chunk, so that
    # filler words a small course happens to lack do not dominate.
    rarest = 1.0 / max(index_size, 1)
    frequency = [_group_frequency(g, document_frequency, co_frequency) for g in groups]
    weights = [-math.log(max(df, rarest)) for df in frequency]
    total = sum(weights)
    coverage = 0.0
    for hit in hits[:top]:
        passage_terms = set(tokenize(f"{hit.chunk.lesson_title} {hit.chunk.heading} {hit.chunk.text}"))
        held = sum(w for g, w in zip(groups, weights, strict=True) if holds(passage_terms, g))
        coverage = max(coverage, held / total if total else 0.0)
    known = sum(w for df, w in zip(frequency, weights, strict=True) if df > 0) / total if total else 0.0
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
    novel = novelty(
        question, document_frequency, chinese_course=hits[0].chunk.language == "zh", co_frequency=co_frequency
    )
    return Evidence(dense, coverage, known, agreement, cross, novel, language)


def _group_frequency(
    renderings: Sequence[Sequence[str]],
    document_frequency: Callable[[str], float],
    co_frequency: Callable[[Sequence[str]], float] | None = None,
) -> float:
    """Share of chunks holding one of a word's renderings (all of its terms; else by its rarest term)."""

    def held(terms: Sequence[str]) -> float:
        if co_frequency is not None and len(terms) > 1:
            return co_frequency(terms)
        return min(document_frequency(t) for t in terms)

    return max((held(terms) for terms in renderings if terms), default=0.0)


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*|[\u3400-\u9fff]+")


def novelty(
    question: str,
    document_frequency: Callable[[str], float],
    chinese_course: bool,
    co_frequency: Callable[[Sequence[str]], float] | None = None,
) -> float:
    """How strongly the question names a specific term the course never uses, in [0, 1].

    A word counts when the index never uses it and it is rare in general language (Zipf frequency
    below 3.5: "GATT" 2.3, "InfluxDB" 0; "actually" 5.5 does not count). Chinese words count only
    when the best passage is Chinese: asked of an English course, every Chinese word is unknown.

    Args:
        question: The question, noise already removed.
        document_frequency: Share of indexed chunks containing a (tokenized) term.
        chinese_course: Whether the best passage is Chinese.
        co_frequency: Share of chunks holding all of several terms. A joined name ("Node-RED") is
            known only where its parts stand in one chunk: "node" and "red" each occur in an IoT course.
            Without it, the name is known when any part is.
    """
    from wordfreq import zipf_frequency

    best = 0.0
    for match in _WORD.finditer(question):
        word = match.group()
        cjk = bool(CJK.match(word))
        if cjk and not chinese_course:
            continue
        terms = tokenize(word)
        if not terms or len(word) < 2:
            continue
        if cjk:  # a run of Chinese is a phrase: judge each of its words the course never uses
            unknown = [t for t in terms if document_frequency(t) == 0 and len(t) >= 2]
            rarity = min((zipf_frequency(t, "zh") for t in unknown), default=9.0)
        elif (
            co_frequency(terms) > 0
            if co_frequency is not None and len(terms) > 1
            else any(document_frequency(t) > 0 for t in terms)
        ):
            continue
        else:
            rarity = zipf_frequency(word.lower(), "en")
        best = max(best, min(max((3.5 - rarity) / 2.0, 0.0), 1.0))
    return best
