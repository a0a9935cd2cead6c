"""The topics and level that ``/courses`` and a lesson's first page show, and the lines they read as.

The handlers that render those views ask a :class:`TopicSource` for data and write the lines
themselves; the recommender (:class:`recommender.service.Recommender`) is one, and the composition
root (``bot/app.py``) hands it to the router. Without one, the views show no topics.

Example:
    >>> found = topics.lesson_topics("security-basics", "phishing")
    >>> lesson_topics_line(found) if found else ""
    'Topics: bank, Teams, code · introductory'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class CourseTopicsRecord(Protocol):
    """A course's central topics, and the levels its lessons span (easiest first)."""

    @property
    def topics(self) -> Sequence[str]: ...  # noqa: D102

    @property
    def levels(self) -> Sequence[str]: ...  # noqa: D102


class LessonTopicsRecord(Protocol):
    """A lesson's keywords and level (``introductory``, ``intermediate`` or ``advanced``)."""

    @property
    def keywords(self) -> Sequence[str]: ...  # noqa: D102

    @property
    def level(self) -> str: ...  # noqa: D102


class TopicSource(Protocol):
    """Where the views' topics come from (blocking calls: they may compute missing tags first)."""

    def course_topics(self) -> Mapping[str, CourseTopicsRecord]:
        """Topics by course id; a course without any is left out."""
        ...

    def lesson_topics(self, course_id: str, lesson_id: str) -> LessonTopicsRecord | None:
        """One lesson's topics, or ``None``."""
        ...


def course_topics_line(found: CourseTopicsRecord) -> str:
    """``  topics: MFA, Wi-Fi; introductory to intermediate``, under a course in ``/courses``."""
    levels = list(found.levels)
    span = levels[0] if len(levels) == 1 else f"{levels[0]} to {levels[-1]}"
    return f"  topics: {', '.join(found.topics)}; {span}"


def lesson_topics_line(found: LessonTopicsRecord) -> str:
    """``Topics: bank, Teams · introductory`` (the level alone without keywords), under a lesson's title."""
    topics = f"Topics: {', '.join(found.keywords)} · " if found.keywords else ""
    return f"{topics}{found.level}"
