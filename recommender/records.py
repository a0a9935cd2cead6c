"""What the recommender reads, and the records it reads them as: small protocols the store satisfies.

The recommender never imports the store. Each part names the few reads it makes as a protocol of
its own (``LearnerRecords`` for profiles and ``/next``, ``TeamRecords`` for digests, ``TagRecords``
for content tags, which also stores the tags it computes); :class:`bot.store.Store` satisfies all of
them structurally, and the composition root (``bot/app.py``) hands it in. Courses, quiz items,
answers and review cards are read by attribute, as the record protocols below (``CourseRecord``,
``ItemRecord``, ``AnswerRecord``, ``CardRecord``); lessons come as :class:`LessonRow` itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class LessonRow:
    """A lesson as stored: what the catalogue and the recommender need, no text."""

    course_id: str
    lesson_id: str
    title: str
    position: int
    module: str
    objectives: list[str]
    minutes: int | None
    prerequisites: list[str]
    version: str
    chunk_count: int


class CourseRecord(Protocol):
    """A course's catalogue entry, as far as the recommender reads it."""

    @property
    def course_id(self) -> str: ...  # noqa: D102

    @property
    def title(self) -> str: ...  # noqa: D102

    @property
    def language(self) -> str:
        """The course's language (``""``: unknown)."""
        ...

    @property
    def track(self) -> str:
        """The premium track it belongs to (``""`` for a free course)."""
        ...

    @property
    def premium(self) -> bool: ...  # noqa: D102


class ItemRecord(Protocol):
    """A quiz item, as far as the learner model reads it."""

    @property
    def item_id(self) -> str: ...  # noqa: D102

    @property
    def course_id(self) -> str: ...  # noqa: D102

    @property
    def lesson_id(self) -> str: ...  # noqa: D102

    @property
    def question(self) -> str: ...  # noqa: D102


class AnswerRecord(Protocol):
    """One answer to a quiz item."""

    @property
    def item_id(self) -> str: ...  # noqa: D102

    @property
    def course_id(self) -> str: ...  # noqa: D102

    @property
    def correct(self) -> bool: ...  # noqa: D102

    @property
    def at(self) -> str: ...  # noqa: D102


class CardRecord(Protocol):
    """A learner's review card: the FSRS card as its ``to_dict()``, and when it is due."""

    @property
    def item_id(self) -> str: ...  # noqa: D102

    @property
    def course_id(self) -> str: ...  # noqa: D102

    @property
    def card(self) -> Mapping[str, Any]: ...  # noqa: D102

    @property
    def due(self) -> str: ...  # noqa: D102


@dataclass(frozen=True)
class TeamActivity:
    """Everything a digest reads about a team's members, one list per table (ISO times as text)."""

    events: list[tuple[int, str, str, str, str]]
    """Progress events: (learner, course, kind, at, lesson)."""
    attempts: list[tuple[int, str, int, str, str]]
    """Quiz answers: (learner, course, correct, at, item)."""
    cards: list[tuple[int, str, float | None, str | None, str]]
    """Review cards: (learner, course, stability, last review, due)."""
    enrolled: list[tuple[int, str, str]]
    """Enrollments: (learner, course, enrolled at)."""
    asked: list[tuple[int, str, int, str]]
    """Logged questions: (learner, question, grounded, asked at)."""


class CatalogueRecords(Protocol):
    """Courses and their lessons."""

    def courses(self) -> Sequence[CourseRecord]:
        """All courses, oldest first."""
        ...

    def lessons(self, course_id: str | None = None) -> list[LessonRow]:
        """Lessons in course order."""
        ...


class LearnerRecords(CatalogueRecords, Protocol):
    """What a learner's profile and ``/next`` read."""

    def may_see_course(self, learner_id: int, course: CourseRecord, now: datetime) -> bool:
        """Whether a course is open to the learner (free, or an entitled track)."""
        ...

    def learner_language(self, learner_id: int) -> str:
        """The language kept with the learner (``""``: unknown)."""
        ...

    def enrollment_times(self, learner_id: int) -> dict[str, str]:
        """Course id -> when the learner enrolled."""
        ...

    def enrolled_courses(self) -> dict[int, list[str]]:
        """Every learner's enrolled courses."""
        ...

    def done_events(self, learner_ids: Sequence[int] | None = None) -> list[tuple[int, str, str, str]]:
        """``done`` events as (learner, course, lesson, at), oldest first (all learners by default)."""
        ...

    def done_count(self) -> int:
        """How many ``done`` events there are."""
        ...

    def progress_events(self, learner_id: int, course_id: str | None = None) -> list[dict[str, Any]]:
        """A learner's progress events (``course_id``, ``lesson_id``, ``kind``, ``at``), oldest first."""
        ...

    def quiz_items(
        self, course_id: str | None = None, status: str | None = "approved", lesson_id: str | None = None
    ) -> Sequence[ItemRecord]:
        """Quiz items (``status=None``: whatever their status)."""
        ...

    def attempts(
        self, learner_id: int, course_id: str | None = None, item_id: str | None = None
    ) -> Sequence[AnswerRecord]:
        """A learner's answers, oldest first."""
        ...

    def review_cards(
        self, learner_id: int, course_id: str | None = None, approved_only: bool = True
    ) -> Sequence[CardRecord]:
        """A learner's review cards."""
        ...

    def questions(self, learner_id: int | None = None) -> list[dict[str, Any]]:
        """Logged questions (``question``, ``grounded``, ``language``, ``created_at``), newest last."""
        ...


class TeamRecords(CatalogueRecords, Protocol):
    """What a team's digest reads."""

    def team(self, team_id: str) -> dict[str, Any] | None:
        """One team row (``name``), or ``None``."""
        ...

    def team_members(self, team_id: str) -> list[int]:
        """The learner ids of a team."""
        ...

    def managed_teams(self, platform: str, platform_user_id: str) -> list[str]:
        """The teams a platform user manages."""
        ...

    def display_names(self, learner_ids: Sequence[int]) -> dict[int, str]:
        """Learners' display names."""
        ...

    def team_activity(self, learner_ids: Sequence[int]) -> TeamActivity:
        """The members' events, answers, cards, enrollments and questions, each table read once."""
        ...

    def quiz_items(
        self, course_id: str | None = None, status: str | None = "approved", lesson_id: str | None = None
    ) -> Sequence[ItemRecord]:
        """Quiz items (``status=None``: whatever their status)."""
        ...


class TagRecords(CatalogueRecords, Protocol):
    """Where content tags are kept, and the quiz accuracy that sharpens their difficulty."""

    def lesson_tags(self, course_id: str | None = None) -> list[dict[str, Any]]:
        """Stored tags (``keywords`` decoded, ``version``, ``text_difficulty``, ``vector`` bytes)."""
        ...

    def save_lesson_tags(self, rows: list[dict[str, Any]]) -> None:
        """Store computed tags (the one write the recommender makes)."""
        ...

    def lesson_accuracy(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Per lesson: (answers, right answers) over every learner."""
        ...
