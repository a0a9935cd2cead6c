"""Wrong options for a quiz item: other key terms of the same course, of the same kind as the answer.

A distractor a teacher keeps is a term a learner of the course could mistake for the answer: the
same kind of thing (a device for a device, a protocol for a protocol), from the same lesson or
module, close in length. With no model at hand, "the same kind of thing" is read off the course
itself: terms that stand among the same words ("the relay switches the pump", "the LED lights when
the pin is high") are used alike, so the cosine of their context vectors (IDF-weighted) ranks
candidates. Terms of the source chunk lose a little (they might be true of it too), and a word of
the question, a one-off scrap or a variant of the answer ("sensor" for "soil sensor") never comes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

from knowledge.keyterms import CourseTerms, PoolTerm, Term
from knowledge.models import Chunk
from knowledge.quizrubric import same_stem
from knowledge.text import tokenize

ALIKE = 0.18
"""The least likeness (context cosine plus the same-lesson bonus) a third or later distractor needs."""


class DistractorPicker:
    """Picks same-kind course terms as wrong options, the ones used most like the answer first.

    Example:
        >>> picker = DistractorPicker(CourseTerms(course_chunks), idf)
        >>> picker.pick(term, "Fill in the blank: ...", chunk, 3)
        ['relay', 'sensor', 'LED']
    """

    def __init__(self, course: CourseTerms, idf: Callable[[str], float], min_count: int = 2) -> None:
        """``min_count``: how often a term must occur to be offered; 1 for a short course (few repeats)."""
        self.course = course
        self.idf = idf
        self.min_count = min_count
        self._norms: dict[int, float] = {}

    def similarity(self, a: PoolTerm, b: PoolTerm) -> float:
        """Cosine of two terms' IDF-weighted context vectors (0 when either has no context)."""
        if len(a.context) > len(b.context):
            a, b = b, a
        dot = sum(self._weight(w, n) * self._weight(w, b.context[w]) for w, n in a.context.items())
        norm = self._norm(a) * self._norm(b)
        return dot / norm if norm else 0.0

    def _weight(self, word: str, count: int) -> float:
        return (1 + math.log(count)) * self.idf(word) if count else 0.0

    def _norm(self, entry: PoolTerm) -> float:
        key = id(entry)
        if key not in self._norms:
            self._norms[key] = math.sqrt(sum(self._weight(w, n) ** 2 for w, n in entry.context.items()))
        return self._norms[key]

    def pick(self, term: Term, question: str, chunk: Chunk, n: int) -> list[str]:
        """Up to ``n`` distractors for ``term`` in ``question`` (drafted from ``chunk``)."""
        asked = set(tokenize(question.replace("_", " ")))
        chunk_terms = set(tokenize(chunk.text))
        head = term.key.split()[-1]
        module = chunk.lesson_id.split("/")[0]
        answer = self.course.entry(term)
        ranked = []
        for key, entry in self.course.pool.get(term.kind, {}).items():
            words = set(key.split())
            if key == term.key or words & asked or entry.chunks == {chunk.chunk_id} or not entry.wholes:
                continue
            if entry.kind == "cjk" and entry.surface in question:
                continue
            if same_stem(head, key.split()[-1]) or term.key in key or key in term.key:
                continue  # "sensor" and "soil sensor" are one answer twice
            if entry.count < self.min_count or len(entry.chunks) < self.min_count:
                continue  # a term said once is as likely a scrap ("代码时") as a term of the course
            if (
                self.min_count > 1
                and self.course.lessons >= 5
                and len(entry.lessons) > self.course.lessons / 2
            ):
                continue  # in most lessons ("code", "data"): no lesson's term, so a vague option
            if self.min_count > 1 and term.kind == "cjk" and not entry.marked:
                continue  # never after 的 or a measure word: a verb or a scrap jieba tagged a noun (请参阅)
            alike = self.similarity(answer, entry) if answer is not None else 0.0
            place = _place(entry, chunk.lesson_id, module)
            nearby = bool(words & chunk_terms)  # in the source chunk: a little more likely true of it too
            ranked.append(
                (
                    -round((alike + 0.1 * (place == 0) + 0.05 * (place == 1) - 0.1 * nearby) * 20),
                    abs(len(key.split()) - len(term.key.split())),
                    round(abs(math.log(len(entry.surface) / len(term.surface))) * 2),
                    hashlib.sha256(f"{chunk.chunk_id}:{key}".encode()).hexdigest(),
                    entry.surface,
                )
            )
        chosen: list[str] = []
        for rank, *_, surface in sorted(ranked):
            if len(chosen) >= 2 and -rank < ALIKE * 20:
                break  # a third option unlike the answer ("Russia" beside MongoDB) is worse than none
            taken = [term.surface, *chosen]
            if any(same_stem(surface.split()[-1], t.split()[-1]) for t in taken):
                continue
            if any(surface.lower() in t.lower() or t.lower() in surface.lower() for t in taken):
                continue
            chosen.append(surface)
            if len(chosen) == n:
                break
        return chosen


def _place(entry: PoolTerm, lesson_id: str, module: str) -> int:
    """0 in the same lesson, 1 in the same module (``2-farm/...``), 2 elsewhere in the course."""
    if lesson_id in entry.lessons:
        return 0
    return 1 if any(lesson.split("/")[0] == module for lesson in entry.lessons) else 2
