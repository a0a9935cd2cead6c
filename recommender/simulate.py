"""Simulated learners for the offline evaluation (``python -m eval recommender``) and timing runs.

**The history generator** (:func:`simulate`). A catalogue of three courses: ``graph`` (12 lessons
with declared prerequisites, a DAG), ``order`` (10 lessons, no declared prerequisites: lesson order)
and ``premium`` (8 lessons, a premium track nobody is entitled to). Each lesson belongs to one of
five topics and carries three words of that topic's vocabulary. Each learner

- enrolls in ``graph``, ``order`` or both, and has a favourite topic;
- repeatedly finishes one lesson among those they are *ready* for (the same rule as the product:
  declared prerequisites done, or at most one step past the furthest lesson done), chosen by a
  softmax over: course order (the first ready lesson is favoured), the favourite topic, a per-lesson
  appeal shared by everyone, and a habit shared by the cohort (after some lesson X, a particular Y);
- asks two questions about lessons of their favourite topic they have not done yet.

So histories respect prerequisites by construction, and every signal the recommender uses exists,
none perfectly predictive. Nothing is fitted to the evaluation: the recommender's weights are fixed.

The same learners, written into a store for timing digests at scale, are :mod:`eval.cohort`'s.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from recommender.catalogue import Catalogue
from recommender.recommend import ready
from recommender.records import LessonRow

TOPICS = {
    "sensors": "sensor temperature humidity analog digital signal calibration",
    "networks": "network wifi protocol mqtt packet router latency",
    "security": "password encryption certificate attack phishing key",
    "data": "database query storage table index stream",
    "cloud": "cloud serverless function deploy container region",
}


@dataclass(frozen=True)
class SimCourse:
    """A simulated course's catalogue entry (a :class:`recommender.records.CourseRecord`)."""

    course_id: str
    title: str
    language: str = "en"
    track: str = ""
    premium: bool = False


@dataclass
class SimLearner:
    """One simulated learner: courses, favourite topic, finished lessons in order, questions."""

    learner_id: int
    courses: list[str]
    topic: str
    history: list[tuple[str, str]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


def catalogue(seed: int = 3) -> tuple[Catalogue, dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """The simulated courses; also each lesson's topic and its text (title and topic words)."""
    rng = random.Random(seed)
    topics = list(TOPICS)
    courses, lessons, topic_of, text_of = {}, {}, {}, {}
    for course_id, size, premium in (("graph", 12, False), ("order", 10, False), ("premium", 8, True)):
        courses[course_id] = SimCourse(course_id, course_id.title(), "en", "pro" if premium else "", premium)
        rows = []
        for i in range(size):
            lesson_id = f"{course_id}-{i:02d}"
            topic = topics[(i + rng.randrange(2)) % len(topics)]
            words = rng.sample(TOPICS[topic].split(), 3)
            prereqs: list[str] = []
            if course_id == "graph" and i:
                parents = rng.sample(range(i), k=min(i, rng.choice((1, 1, 2))))
                prereqs = [f"graph-{p:02d}" for p in sorted(parents)]
            title = f"{words[0].title()} {words[1]} ({lesson_id})"
            rows.append(LessonRow(course_id, lesson_id, title, i, "", [], 10, prereqs, "v1", 1))
            topic_of[(course_id, lesson_id)] = topic
            text_of[(course_id, lesson_id)] = f"{title}. {' '.join(words)} {TOPICS[topic]}"
        lessons[course_id] = rows
    return Catalogue(courses, lessons), topic_of, text_of


def simulate(learners: int, seed: int = 11) -> tuple[Catalogue, list[SimLearner], dict[tuple[str, str], str]]:
    """Learner histories as described in the module docstring."""
    rng = random.Random(seed)
    cat, topic_of, text_of = catalogue()
    keys = list(topic_of)
    appeal = {k: rng.gauss(0, 0.7) for k in keys}
    habit = {k: rng.choice(keys) for k in keys}  # the cohort's favourite next step after each lesson
    result = []
    for learner_id in range(1, learners + 1):
        courses = rng.choice((["graph"], ["order"], ["graph", "order"]))
        learner = SimLearner(learner_id, courses, rng.choice(list(TOPICS)))
        steps = rng.randint(2, 14)
        done: dict[str, set[str]] = {c: set() for c in courses}
        for _ in range(steps):
            options = [
                (c, row, position)
                for c in courses
                for position, row in enumerate(ready(cat.lessons[c], done[c]))
            ]
            if not options:
                break
            last = learner.history[-1] if learner.history else None
            weights = []
            for course_id, row, position in options:
                key = (course_id, row.lesson_id)
                score = 1.5 * (position == 0) + 1.2 * (topic_of[key] == learner.topic) + appeal[key]
                score += 1.5 * (last is not None and habit[last] == key)
                weights.append(math.exp(score))
            course_id, row, _ = rng.choices(options, weights=weights)[0]
            done[course_id].add(row.lesson_id)
            learner.history.append((course_id, row.lesson_id))
        wanted = [
            k for k in keys if topic_of[k] == learner.topic and k[0] in courses and k not in learner.history
        ]
        for key in rng.sample(wanted, k=min(2, len(wanted))):
            words = text_of[key].split(". ", 1)[1].split()[:3]
            learner.questions.append(f"How does {words[0]} relate to {words[1]} and {words[2]}?")
        result.append(learner)
    return cat, result, text_of


def utc(year: int, month: int, day: int) -> datetime:
    """A UTC midnight."""
    return datetime(year, month, day, tzinfo=UTC)
