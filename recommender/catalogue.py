"""The course catalogue the recommender ranks: courses and their lessons in course order.

Its own module so that :mod:`recommender.language` (which finds translations in it) and
:mod:`recommender.recommend` (which ranks its lessons) both build on it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recommender.records import CatalogueRecords, CourseRecord, LessonRow

if TYPE_CHECKING:
    from recommender.collaborative import Key


@dataclass
class Catalogue:
    """Courses and their lessons in course order."""

    courses: dict[str, CourseRecord]
    lessons: dict[str, list[LessonRow]]
    twins: dict[str, set[str]] | None = field(default=None, repr=False, compare=False)
    """Translations of each course, computed once (:func:`recommender.language.translations`)."""

    @classmethod
    def from_store(cls, store: CatalogueRecords) -> Catalogue:
        """Every course and lesson of the store (or anything else that keeps the catalogue)."""
        courses = {c.course_id: c for c in store.courses()}
        by_course: dict[str, list[LessonRow]] = {cid: [] for cid in courses}
        for lesson in store.lessons():
            by_course.setdefault(lesson.course_id, []).append(lesson)
        return cls(courses, by_course)

    def titles(self) -> dict[Key, str]:
        """Lesson titles by key."""
        return {(cid, row.lesson_id): row.title for cid, rows in self.lessons.items() for row in rows}
