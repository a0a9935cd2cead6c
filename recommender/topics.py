"""A course's most central topics and the levels of its lessons, from their tags: what ``/courses`` shows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.keywords import KEYWORDS, near_duplicate
from recommender.tags import LEVELS, LessonTags


@dataclass(frozen=True)
class CourseTopics:
    """A course's most central topics, and the levels its lessons span (distinct, easiest first)."""

    course_id: str
    topics: list[str]
    levels: list[str]


def topics_by_course(tags: Mapping[tuple[str, str], LessonTags]) -> dict[str, CourseTopics]:
    """Each tagged course's :class:`CourseTopics` (a course none of whose lessons is tagged has none)."""
    by_course: dict[str, list[LessonTags]] = {}
    for (course_id, _), t in tags.items():
        by_course.setdefault(course_id, []).append(t)
    return {
        course_id: CourseTopics(
            course_id,
            course_topics(lessons),  # the most central, not the first lessons' tags
            sorted({t.level for t in lessons}, key=LEVELS.index),
        )
        for course_id, lessons in by_course.items()
    }


def course_topics(lessons: Sequence[LessonTags], n: int = 6) -> list[str]:
    """A course's most central topics: keywords of the lessons nearest the course's centroid, by rank.

    A keyword scores the closeness of its lesson to the centroid of all lesson embeddings, less for a
    lower rank in the lesson's list, summed over the lessons that share it; near-duplicates are skipped.
    """
    vectors = [t.vector for t in lessons if t.vector is not None and len(t.vector)]
    centroid = None
    if vectors and len({len(v) for v in vectors}) == 1:
        mean = np.mean(np.stack(vectors), axis=0)
        centroid = mean / max(float(np.linalg.norm(mean)), 1e-9)
    score: Counter[str] = Counter()
    for t in lessons:
        usable = centroid is not None and t.vector is not None and len(t.vector) == len(centroid)
        closeness = max(0.0, float(t.vector @ centroid)) if usable else 1.0
        for rank, word in enumerate(t.keywords):
            score[word] += closeness * (1 - rank / (KEYWORDS + 1))
    chosen: list[str] = []
    for word in sorted(score, key=lambda w: (-score[w], w)):
        if any(near_duplicate(word, kept) for kept in chosen):
            continue
        chosen.append(word)
        if len(chosen) == n:
            break
    return chosen
