"""Content tags: each lesson's keywords and difficulty.

**Keywords** come from the lesson's own text, in its language: words and two-word phrases for
English (stop words dropped), jieba's segmentation for Chinese. The 20 candidates with the highest
TF-IDF against the other lessons of the course are embedded with the index's own embedder and ranked
by how close each is to the lesson as a whole (cosine to the lesson's embedding), blended with their
TF-IDF; the top 5 are kept, skipping a term already inside a kept one.

**Difficulty** (0-1) starts from the lesson's depth in the prerequisite graph (``course.toml``;
without declared prerequisites, its place in the course order) and its text (sentence length, long
words); once learners have answered enough questions on the lesson, their error rate takes over.

Tags are computed after ingestion, not during it: :meth:`ContentTags.ensure` fills in lessons whose
stored tags belong to another version (the first ``/courses`` or lesson view after an ingest, or
``learnbot tags``), so ingestion is not slowed at all. The lesson embedding is kept with the tags and
used by the recommender to match a learner's questions to lessons.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.store import LessonRow, Store
from knowledge.embedders import Embedder
from knowledge.models import Chunk

KEYWORDS = 5
CANDIDATES = 20
MIN_ANSWERS = 10
"""Quiz answers on a lesson before learners' accuracy starts to set its difficulty."""
DOC_CHARS = 2000
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#-]*[A-Za-z0-9+#]|[A-Za-z]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_BREAK = re.compile(r"[.,;:!?()\[\]{}|\n]+|\s[-–—]\s")
_SENTENCE = re.compile(r"[.!?。！？]+")
_MARKUP = re.compile(r"```.*?```|`[^`]*`|!\[[^\]]*\]\([^)]*\)|\]\([^)]*\)|https?://\S+|<[^>]+>", re.S)
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
STOP_ZH = frozenset(
    "的 了 和 是 在 我们 你 我 他 它 这 那 一个 可以 使用 进行 以及 如果 因为 所以 "
    "就 也 都 而 与 或 及 等".split()
)


@dataclass(frozen=True)
class LessonTags:
    """A lesson's keywords, difficulty (0-1) and embedding."""

    course_id: str
    lesson_id: str
    keywords: list[str]
    difficulty: float
    vector: np.ndarray | None = None

    @property
    def level(self) -> str:
        """``introductory``, ``intermediate`` or ``advanced``."""
        return (
            "introductory"
            if self.difficulty < 0.34
            else "intermediate"
            if self.difficulty < 0.67
            else "advanced"
        )

    def label(self) -> str:
        """``Topics: a, b, c · intermediate`` for chat."""
        topics = f"Topics: {', '.join(self.keywords)} · " if self.keywords else ""
        return f"{topics}{self.level}"


def terms(text: str, language: str) -> list[str]:
    """Candidate keywords of a text, in order of appearance (repeated as often as they occur)."""
    text = _MARKUP.sub(" ", text)
    if language == "zh" or len(_CJK.findall(text)) > len(text) / 10:
        import jieba

        words = [w.strip() for w in jieba.lcut(text)]
        return [
            w.lower()
            for w in words
            if w
            and w not in STOP_ZH
            and (len(w) >= 2 and (_CJK.search(w) or _WORD.fullmatch(w)))
            and w.lower() not in STOP
        ]
    result: list[str] = []
    for segment in _BREAK.split(text):  # two-word phrases never span punctuation or lines
        previous = ""
        for word in _WORD.findall(segment):
            lower = word.lower()
            if lower in STOP or len(lower) < 3 or lower.isdigit():
                previous = ""
                continue
            result.append(lower)
            if previous and previous != lower:
                result.append(f"{previous} {lower}")
            previous = lower
    return result


def text_difficulty(text: str) -> float:
    """0-1 from sentence length and long words (English words of 9+ letters; Chinese sentence length)."""
    sentences = [s for s in _SENTENCE.split(_MARKUP.sub(" ", text)) if s.strip()]
    if not sentences:
        return 0.5
    if len(_CJK.findall(text)) > len(text) / 10:
        length = sum(len(_CJK.findall(s)) for s in sentences) / len(sentences) / 2
        long_share = 0.2
    else:
        words = [w for s in sentences for w in _WORD.findall(s)]
        length = len(words) / len(sentences)
        long_share = sum(len(w) >= 9 for w in words) / max(1, len(words))
    return float(min(1.0, max(0.0, 0.5 * (length - 8) / 20 + 0.5 * long_share / 0.25)))


def depths(lessons: Sequence[LessonRow]) -> dict[str, float]:
    """Each lesson's depth in the prerequisite graph, 0-1 (course order when none are declared)."""
    if not any(lesson.prerequisites for lesson in lessons):
        n = max(1, len(lessons) - 1)
        return {lesson.lesson_id: i / n for i, lesson in enumerate(lessons)}
    known = {lesson.lesson_id: lesson.prerequisites for lesson in lessons}
    depth: dict[str, int] = {}

    def walk(lesson_id: str, seen: frozenset[str] = frozenset()) -> int:
        if lesson_id not in depth:
            parents = [p for p in known.get(lesson_id, []) if p in known and p not in seen]
            depth[lesson_id] = 1 + max((walk(p, seen | {lesson_id}) for p in parents), default=-1)
        return depth[lesson_id]

    for lesson in lessons:
        walk(lesson.lesson_id)
    top = max(1, max(depth.values()))
    return {lid: d / top for lid, d in depth.items()}


def candidates(counts: Counter[str], document_frequency: Mapping[str, int], lessons: int) -> dict[str, float]:
    """The lesson's :data:`CANDIDATES` best terms by TF-IDF within the course, with their TF-IDF."""
    tfidf = {
        term: (1 + math.log(n)) * math.log((1 + lessons) / (1 + document_frequency.get(term, 0))) + 1e-6
        for term, n in counts.items()
        if n >= 2 or " " not in term
    }
    return {t: tfidf[t] for t in sorted(tfidf, key=lambda t: -tfidf[t])[:CANDIDATES]}


def choose(tfidf: Mapping[str, float], doc: np.ndarray, vectors: Mapping[str, np.ndarray]) -> list[str]:
    """The top :data:`KEYWORDS`: closeness to the lesson (unit vectors) blended with TF-IDF."""
    if not tfidf:
        return []
    best = max(tfidf.values())
    score = {t: 0.6 * float(vectors[t] @ doc) + 0.4 * v / best for t, v in tfidf.items()}
    chosen: list[str] = []
    for term in sorted(tfidf, key=lambda t: -score[t]):
        if any(term in kept or kept in term for kept in chosen):
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
    doc_vector, *term_vectors = _unit(embedder.embed_documents([doc, *tfidf]))
    return choose(tfidf, doc_vector, dict(zip(tfidf, term_vectors, strict=True))), doc_vector


def _unit(vectors: object) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-9)


class ContentTags:
    """Computes, stores and serves lesson tags.

    Args:
        store: The store (tags live in ``lesson_tags``).
        lesson_chunks: ``(course_id, lesson_id) -> chunks`` of the live index.
        embedder: Returns the index's embedder (called only when something must be computed).
    """

    def __init__(
        self,
        store: Store,
        lesson_chunks: Callable[[str, str], Sequence[Chunk]] | None,
        embedder: Callable[[], Embedder] | None,
    ) -> None:
        self.store = store
        self.lesson_chunks = lesson_chunks
        self.embedder = embedder

    def ensure(self, course_id: str | None = None) -> int:
        """Compute tags of lessons whose stored tags are missing or of another version; returns how many."""
        if self.lesson_chunks is None or self.embedder is None:
            return 0
        stored = {(t["course_id"], t["lesson_id"]): t["version"] for t in self.store.lesson_tags(course_id)}
        courses = [c for c in self.store.courses() if course_id in (None, c["course_id"])]
        computed = 0
        for course in courses:
            lessons = self.store.lessons(course["course_id"])
            if all(stored.get((course["course_id"], row.lesson_id)) == row.version for row in lessons):
                continue
            computed += self._course(course, lessons, stored)
        return computed

    def _course(self, course: dict, lessons: list[LessonRow], stored: Mapping) -> int:
        assert self.lesson_chunks is not None and self.embedder is not None
        language = course.get("language") or "en"
        chunks = {row.lesson_id: self.lesson_chunks(course["course_id"], row.lesson_id) for row in lessons}
        texts = {lid: "\n".join(c.text for c in found) for lid, found in chunks.items()}
        counts = {}
        for row in lessons:  # the title counts three times and each heading twice: they name the topic
            headings = " . ".join(sorted({c.heading.replace(" > ", " . ") for c in chunks[row.lesson_id]}))
            emphasis = f"{row.title} . {row.title} . {row.title} . {headings} . {headings}"
            counts[row.lesson_id] = Counter(terms(f"{emphasis}\n{texts[row.lesson_id]}", language))
        frequency: Counter[str] = Counter(term for c in counts.values() for term in c)
        depth = depths(lessons)
        embedder = self.embedder()
        todo = [row for row in lessons if stored.get((course["course_id"], row.lesson_id)) != row.version]
        best = {row.lesson_id: candidates(counts[row.lesson_id], frequency, len(lessons)) for row in todo}
        # Long lesson texts and short terms are embedded apart (a batch is padded to its longest text),
        # each once per course.
        docs = (
            _unit(
                embedder.embed_documents(
                    [
                        f"{row.title}\n{' '.join(row.objectives)}\n{texts[row.lesson_id][:DOC_CHARS]}"
                        for row in todo
                    ]
                )
            )
            if todo
            else np.zeros((0, 1), dtype=np.float32)
        )
        terms_needed = sorted({t for found in best.values() for t in found})
        term_vectors = (
            dict(zip(terms_needed, _unit(embedder.embed_documents(terms_needed)), strict=True))
            if terms_needed
            else {}
        )
        rows = []
        for row, vector in zip(todo, docs, strict=True):
            rows.append(
                {
                    "course_id": course["course_id"],
                    "lesson_id": row.lesson_id,
                    "version": row.version,
                    "keywords": choose(best[row.lesson_id], vector, term_vectors),
                    "text_difficulty": round(
                        0.6 * depth[row.lesson_id] + 0.4 * text_difficulty(texts[row.lesson_id]), 4
                    ),
                    "vector": vector.astype(np.float32).tobytes(),
                }
            )
        self.store.save_lesson_tags(rows)
        return len(rows)

    def tags(self, course_id: str | None = None) -> dict[tuple[str, str], LessonTags]:
        """Stored tags by (course, lesson); difficulty blended with quiz accuracy once there is enough."""
        accuracy = self.store.lesson_accuracy()
        result = {}
        for t in self.store.lesson_tags(course_id):
            key = (t["course_id"], t["lesson_id"])
            result[key] = LessonTags(
                t["course_id"],
                t["lesson_id"],
                t["keywords"],
                blended_difficulty(t["text_difficulty"], *accuracy.get(key, (0, 0))),
                np.frombuffer(t["vector"], dtype=np.float32) if t["vector"] else None,
            )
        return result


def blended_difficulty(from_text: float, answers: int, right: int) -> float:
    """Difficulty from the text and graph until :data:`MIN_ANSWERS`, then more and more from error rates."""
    if answers < MIN_ANSWERS:
        return from_text
    weight = min(1.0, answers / (5 * MIN_ANSWERS))
    return (1 - weight) * from_text + weight * (1 - right / answers)
