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
