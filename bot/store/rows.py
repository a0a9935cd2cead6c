"""The records the store hands out, and how they are read from rows.

Lessons are handed out as :class:`recommender.records.LessonRow`, the record their main reader defines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QuizItem:
    """A multiple-choice question about a lesson. Only ``approved`` items reach learners."""

    item_id: str
    course_id: str
    lesson_id: str
    question: str
    options: list[str]
    answer: int
    explanation: str = ""
    source_chunk_id: str = ""
    status: str = "approved"
    origin: str = "authored"


@dataclass(frozen=True)
class ReviewCardRow:
    """A learner's card for one item: the FSRS card as its own ``to_dict()``, and when it is due."""

    learner_id: int
    item_id: str
    course_id: str
    card: dict[str, Any]
    due: str


@dataclass(frozen=True)
class Attempt:
    """One answer to a quiz item, with the card as it was before (so the rating can be changed later)."""

    id: int
    learner_id: int
    item_id: str
    course_id: str
    chosen: int
    correct: bool
    rating: int
    card_before: dict[str, Any] | None
    at: str


@dataclass(frozen=True)
class LearnerSettings:
    """When a learner wants pushes: time zone, active hours (start inclusive, end exclusive), paused."""

    timezone: str = "UTC"
    active_start: int = 9
    active_end: int = 21
    paused: bool = False
    language: str = ""


@dataclass(frozen=True)
class CourseRow:
    """A course as stored: its catalogue entry, no lessons (a :class:`recommender.records.CourseRecord`).

    Example:
        >>> course = store.course("security-basics")
        >>> course.title, course.premium, course.track
    """

    course_id: str
    title: str
    language: str = ""
    track: str = ""
    premium: bool = False
    description: str = ""
    desired_retention: float | None = None
    """The course's target recall for spaced repetition; None: the default."""
    source: str = ""
    """Where the course was loaded from (a folder or file path)."""
    lesson_count: int = 0
    chunk_count: int = 0
    ingested_at: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CourseRow:
        """A ``courses`` row as the database returns it (empty text columns may be NULL)."""
        retention = row.get("desired_retention")
        return cls(
            course_id=row["course_id"],
            title=row.get("title") or "",
            language=row.get("language") or "",
            track=row.get("track") or "",
            premium=bool(row.get("premium")),
            description=row.get("description") or "",
            desired_retention=float(retention) if retention is not None else None,
            source=row.get("source") or "",
            lesson_count=int(row.get("lesson_count") or 0),
            chunk_count=int(row.get("chunk_count") or 0),
            ingested_at=row.get("ingested_at") or "",
        )


def _quiz_item(row: dict[str, Any]) -> QuizItem:
    return QuizItem(
        item_id=row["item_id"],
        course_id=row["course_id"],
        lesson_id=row["lesson_id"],
        question=row["question"],
        options=json.loads(row["options"]),
        answer=row["answer"],
        explanation=row["explanation"] or "",
        source_chunk_id=row["source_chunk_id"] or "",
        status=row["status"],
        origin=row["origin"],
    )


def _review_card(row: dict[str, Any]) -> ReviewCardRow:
    return ReviewCardRow(
        row["learner_id"], row["item_id"], row["course_id"], json.loads(row["card"]), row["due"]
    )


def _attempt(row: dict[str, Any]) -> Attempt:
    return Attempt(
        id=row["id"],
        learner_id=row["learner_id"],
        item_id=row["item_id"],
        course_id=row["course_id"],
        chosen=row["chosen"],
        correct=bool(row["correct"]),
        rating=row["rating"],
        card_before=json.loads(row["card_before"]) if row["card_before"] else None,
        at=row["at"],
    )
