"""A course's most central topics, from its lessons' tags: what ``/courses`` shows under each course."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from recommender.keywords import KEYWORDS, near_duplicate
from recommender.tags import LessonTags


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
