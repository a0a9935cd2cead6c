"""A lesson's key phrases, in its language, chosen among its TF-IDF candidates by closeness to the lesson.

English noun phrases and names are found the way the quiz drafter finds key terms
(:mod:`knowledge.keyterms`: "IoT Hub", "soil moisture sensor", "MQTT"; no verbs, adjectives or common
words, so no "wait" or "equal"), Chinese nouns from jieba's part-of-speech tags with adjacent nouns kept
together (密码管理器, not 管理器). The :data:`CANDIDATES` with the highest TF-IDF against the other
lessons of the course are embedded with the index's own embedder and ranked by how close each is to
the lesson as a whole (cosine to the lesson's embedding), blended with their TF-IDF, multi-word phrases
and names first; the top :data:`KEYWORDS` are kept, skipping any that shares all its stems with a kept
one ("hub event" after "event hub", "hub" after "IoT Hub").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np

from knowledge.embedders import Embedder
from knowledge.extractive import split_sentences
from knowledge.keyterms import NounEvidence, chinese_terms, english_terms
from knowledge.quizrubric import same_stem
from knowledge.text import tokenize

KEYWORDS = 5
CANDIDATES = 20
_CJK = re.compile(r"[\u4e00-\u9fff]")
MARKUP = re.compile(r"```.*?```|`[^`]*`|!\[[^\]]*\]\([^)]*\)|\]\([^)]*\)|https?://\S+|<[^>]+>", re.S)
"""Code, images, link targets, URLs and HTML tags: no key phrase (and no prose) in them."""

STOP = frozenset(
    """a about above after again all also an and any are as at be because been before being below between
    both but by can could did do does doing done down during each few for from further get gets got had has
    have having he her here hers him his how i if in into is it its itself just let like make makes many may
    me more most much must my no nor not now of off often on once one only or other our out over own per
    same see she should so some such than that the their them then there these they this those through to
    too two under until up upon us use used uses using very via was way we well were what when where which
    while who why will with would you your yours lesson lessons learn course quiz section example examples
    first next new need needs able know want also however thing things something really lot get called
    read image images link links see click note notes https http www com github md png jpg""".split()
)
GENERIC_HEADS = frozenset(
    "program programs app apps application applications code logic tool tools quickstart results language "
    "project projects file files step steps thing things way ways".split()
)
"""Heads of phrases that name no topic of their own."""
STOP_ZH = frozenset(
    "的 了 和 是 在 我们 你 我 他 它 这 那 一个 可以 使用 进行 以及 如果 因为 所以 "
    "就 也 都 而 与 或 及 等".split()
)


def lesson_sentences(text: str) -> list[str]:
    """The non-empty sentences of a text, line by line."""
    return [s for line in text.splitlines() for s in split_sentences(line) if s.strip()]


def is_chinese(text: str, language: str = "") -> bool:
    """Whether a text is read as Chinese (its course's language, or mostly Chinese characters)."""
    return language == "zh" or len(_CJK.findall(text)) > len(text) / 10


def terms(text: str, language: str, nouns: NounEvidence | None = None) -> list[str]:
    """Candidate key phrases of a text, in order of appearance (repeated as often as they occur).

    English: noun phrases of up to three words and names (``nouns`` says which words the course uses
    as nouns; by default the text itself); Chinese: nouns, adjacent nouns joined into one compound.
    """
    sentences = lesson_sentences(MARKUP.sub(" ", text))
    if is_chinese(text, language):
        found = [t.surface for s in sentences for t in chinese_terms(s)]
        return [w for w in found if w not in STOP_ZH]
    nouns = nouns or NounEvidence(sentences)
    result: list[str] = []
    for sentence in sentences:
        offset = len(sentence) - len(sentence.lstrip(" \"'“("))
        for term in english_terms(sentence, nouns):
            words = term.surface.split()
            if term.kind == "number" or len(words) > 1 and words[-1].lower() in GENERIC_HEADS:
                continue  # "timer program", "sensor app": the head says nothing about the topic
            if len(words) > 1 and term.start == offset and words[0][1:].islower() and words[0][0].isupper():
                continue  # "Trigger fruit", "Research sensors": a heading's first word starts a clause
            shown = term.surface if term.kind in ("name", "acronym") else term.surface.lower()
            if len(shown) >= 3 and not any(w.lower() in STOP for w in shown.split()):
                result.append(shown)
    return result


def candidates(counts: Counter[str], document_frequency: Mapping[str, int], lessons: int) -> dict[str, float]:
    """The lesson's :data:`CANDIDATES` best terms by TF-IDF within the course, with their TF-IDF."""
    tfidf = {
        term: (1 + math.log(n)) * math.log((1 + lessons) / (1 + document_frequency.get(term, 0))) + 1e-6
        for term, n in counts.items()
        if n >= 2 or (" " in term or not term.islower()) and n >= 1
    }
    return {t: tfidf[t] for t in sorted(tfidf, key=lambda t: -tfidf[t])[:CANDIDATES]}


def _words(term: str) -> list[str]:
    words = tokenize(term) or [term]
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words]  # "cpus" is "cpu"


def near_duplicate(a: str, b: str) -> bool:
    """Every word of one term shares a stem with a word of the other ("CPUs" and "CPU", "hub event")."""
    x, y = _words(a), _words(b)

    def near(u: str, v: str) -> bool:
        return u == v or same_stem(u, v)

    return all(any(near(u, v) for v in y) for u in x) or all(any(near(v, u) for u in x) for v in y)


def choose(tfidf: Mapping[str, float], doc: np.ndarray, vectors: Mapping[str, np.ndarray]) -> list[str]:
    """The top :data:`KEYWORDS`: closeness to the lesson (unit vectors) blended with TF-IDF.

    Multi-word phrases and names come first; a term whose stems are all in a kept one (or the other
    way round) is a near-duplicate and is skipped.
    """
    if not tfidf:
        return []
    best = max(tfidf.values())
    score = {
        t: 0.6 * float(vectors[t] @ doc) + 0.4 * v / best + (0.15 if " " in t or not t.islower() else 0.0)
        for t, v in tfidf.items()
    }
    chosen: list[str] = []
    for term in sorted(tfidf, key=lambda t: -score[t]):
        if any(near_duplicate(term, kept) for kept in chosen):
            continue
        chosen.append(term)
        if len(chosen) == KEYWORDS:
            break
    return chosen


def keywords(
    embedder: Embedder, doc: str, counts: Counter[str], document_frequency: Mapping[str, int], lessons: int
) -> tuple[list[str], np.ndarray]:
    """One lesson's top keywords and its embedding (see the module docstring)."""
    tfidf = candidates(counts, document_frequency, lessons)
    doc_vector, *term_vectors = unit(embedder.embed_documents([doc, *tfidf]))
    return choose(tfidf, doc_vector, dict(zip(tfidf, term_vectors, strict=True))), doc_vector


def unit(vectors: object) -> np.ndarray:
    """Embeddings as rows of length 1 (cosine becomes a dot product)."""
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-9)
