"""Content tags: each lesson's key phrases and difficulty, and each course's central topics.

**Keywords** (:mod:`recommender.keywords`) are the lesson's key phrases, in its language: noun
phrases and names, the TF-IDF candidates closest to the lesson's embedding.

**Difficulty** (0-1, :mod:`recommender.difficulty`) comes from what the lesson asks of a reader,
alike for a lesson and its translation; once learners have answered enough questions on the lesson,
their error rate takes over.

**Course topics** (:func:`recommender.topics.course_topics`) are the keywords of the lessons
closest to the course as a whole (their embeddings' centroid), weighted by rank and by how many
lessons share them: what ``/courses`` shows.

Tags are computed after ingestion, not during it: :meth:`ContentTags.ensure` fills in lessons whose
stored tags belong to another version (the first ``/courses`` or lesson view after an ingest, or
``learnbot tags``), so ingestion is not slowed at all. The lesson embedding is kept with the tags and
used by the recommender to match a learner's questions to lessons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.embedders import Embedder
from knowledge.keyterms import NounEvidence
from knowledge.models import Chunk
from recommender.difficulty import blended_difficulty, text_difficulty, translation_groups
from recommender.keywords import MARKUP, candidates, choose, lesson_sentences, terms, unit
from recommender.records import CourseRecord, LessonRow, TagRecords

DOC_CHARS = 2000
LEVELS = ("introductory", "intermediate", "advanced")
"""A lesson's level, by difficulty: below 0.34, below 0.67, the rest."""


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
        """One of :data:`LEVELS`: ``introductory``, ``intermediate`` or ``advanced``."""
        return LEVELS[0] if self.difficulty < 0.34 else LEVELS[1] if self.difficulty < 0.67 else LEVELS[2]


class ContentTags:
    """Computes, stores and serves lesson tags.

    Args:
        store: Where tags are kept (the store: ``lesson_tags``).
        lesson_chunks: ``(course_id, lesson_id) -> chunks`` of the live index.
        embedder: Returns the index's embedder (called only when something must be computed).
    """

    def __init__(
        self,
        store: TagRecords,
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
        courses = [c for c in self.store.courses() if course_id in (None, c.course_id)]
        computed = 0
        for course in courses:
            lessons = self.store.lessons(course.course_id)
            if all(stored.get((course.course_id, row.lesson_id)) == row.version for row in lessons):
                continue
            computed += self._course(course, lessons, stored)
        return computed

    def _course(self, course: CourseRecord, lessons: list[LessonRow], stored: Mapping) -> int:
        assert self.lesson_chunks is not None and self.embedder is not None
        language = course.language or "en"
        chunks = {row.lesson_id: self.lesson_chunks(course.course_id, row.lesson_id) for row in lessons}
        texts = {lid: "\n".join(c.text for c in found) for lid, found in chunks.items()}
        # which words the whole course uses as nouns (one lesson alone says too little)
        nouns = NounEvidence(lesson_sentences(MARKUP.sub(" ", "\n".join(texts.values()))))
        counts = {}
        for row in lessons:  # the title counts three times and each heading twice: they name the topic
            headings = "\n".join(sorted({c.heading.replace(" > ", "\n") for c in chunks[row.lesson_id]}))
            emphasis = f"{row.title}\n{row.title}\n{row.title}\n{headings}\n{headings}"
            counts[row.lesson_id] = Counter(terms(f"{emphasis}\n{texts[row.lesson_id]}", language, nouns))
        frequency: Counter[str] = Counter(term for c in counts.values() for term in c)
        embedder = self.embedder()
        todo = [row for row in lessons if stored.get((course.course_id, row.lesson_id)) != row.version]
        best = {row.lesson_id: candidates(counts[row.lesson_id], frequency, len(lessons)) for row in todo}
        # Long lesson texts and short terms are embedded apart (a batch is padded to its longest text),
        # each once per course.
        docs = (
            unit(
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
            dict(zip(terms_needed, unit(embedder.embed_documents(terms_needed)), strict=True))
            if terms_needed
            else {}
        )
        rows = []
        for row, vector in zip(todo, docs, strict=True):
            rows.append(
                {
                    "course_id": course.course_id,
                    "lesson_id": row.lesson_id,
                    "version": row.version,
                    "keywords": choose(best[row.lesson_id], vector, term_vectors),
                    "text_difficulty": text_difficulty(texts[row.lesson_id]),
                    "vector": vector.astype(np.float32).tobytes(),
                }
            )
        self.store.save_lesson_tags(rows)
        return len(rows)

    def tags(self, course_id: str | None = None) -> dict[tuple[str, str], LessonTags]:
        """Stored tags by (course, lesson); difficulty blended with quiz accuracy once there is enough.

        A lesson and its translations share one difficulty: the mean of their texts' and the pooled
        quiz answers of all their learners.
        """
        accuracy = self.store.lesson_accuracy()
        rows = self.store.lesson_tags()
        lessons: dict[str, set[str]] = {}
        for t in rows:
            lessons.setdefault(t["course_id"], set()).add(t["lesson_id"])
        group = translation_groups(self.store.courses(), lessons)
        texts: dict[tuple[str, str], list[float]] = {}
        answers: Counter[tuple[str, str]] = Counter()
        right: Counter[tuple[str, str]] = Counter()
        for t in rows:
            key = (t["course_id"], t["lesson_id"])
            shared = group.get(key, key)
            texts.setdefault(shared, []).append(t["text_difficulty"])
            answered, correct = accuracy.get(key, (0, 0))
            answers[shared] += answered
            right[shared] += correct
        result = {}
        for t in rows:
            if course_id not in (None, t["course_id"]):
                continue
            key = (t["course_id"], t["lesson_id"])
            shared = group.get(key, key)
            from_text = sum(texts[shared]) / len(texts[shared])
            result[key] = LessonTags(
                t["course_id"],
                t["lesson_id"],
                t["keywords"],
                blended_difficulty(from_text, answers[shared], right[shared]),
                np.frombuffer(t["vector"], dtype=np.float32) if t["vector"] else None,
            )
        return result
