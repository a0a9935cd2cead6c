"""The learning loop: enrollments, the next lesson, progress, quiz items and FSRS review cards.

Plain code over the :class:`Store` that takes ``now`` as an argument, so every rule can be tested
with a fixed clock. The chat wording lives in ``bot/chat/learning.py``; the scheduled pushes
live in ``bot/jobs.py`` (due cards via ``Store.due_push_candidates``); FSRS lives in ``bot/reviews.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fsrs import Card, Rating, State

from bot.lesson_sections import LessonView, course_url, lesson_pages, section_images
from bot.reviews import Feel, new_card, rating_for, retrievability, review, utc, zone
from bot.store import QuizItem, Store, iso
from bot.store.rows import CourseRow
from knowledge.answer import Citation
from knowledge.models import Chunk
from knowledge.text import tokenize
from recommender.records import LessonRow

LessonChunks = Callable[[str, str], Sequence[Chunk]]
"""Returns the live chunks of ``(course_id, lesson_id)`` (the composition root reads the index)."""


class LearningError(Exception):
    """A learner asked for something that cannot be done; the message says why, in their words."""


class NotDue(LearningError):
    """The item was answered already and is not due again yet."""

    def __init__(self, due: datetime) -> None:
        super().__init__("already answered; not due again yet")
        self.due = due


# -- what the chat shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseProgress:
    """One course's progress for one learner."""

    course_id: str
    title: str
    lessons_done: int
    lessons_total: int
    attempts: int
    correct: int
    due: int
    streak_days: int
    retention: float | None
    """Mean predicted recall of the cards past their learning steps; ``None`` while there are none."""
    learning: int = 0
    """Cards still in their FSRS learning or relearning steps."""

    @property
    def accuracy(self) -> float | None:
        """Share of quiz answers that were right, ``None`` before the first answer."""
        return self.correct / self.attempts if self.attempts else None


@dataclass(frozen=True)
class AnswerOutcome:
    """What answering an item did: right or wrong, the FSRS rating, the new card and its due time."""

    attempt_id: int
    item: QuizItem
    chosen: int
    correct: bool
    rating: Rating
    card: Card

    @property
    def due(self) -> datetime:
        """When the item comes back."""
        return self.card.due


class LearningLoop:
    """Lessons, progress and quiz reviews for learners, over the store.

    Example:
        >>> loop = LearningLoop(store)
        >>> loop.enroll(learner, "security-basics", now)
        >>> course, lesson = loop.next_lesson(learner)
        >>> loop.answer(learner, item.item_id, chosen=0, now=now).due
    """

    def __init__(
        self,
        store: Store,
        lesson_chunks: LessonChunks | None = None,
        fuzz: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.lesson_chunks = lesson_chunks
        self.fuzz = fuzz
        self.clock = clock
        """Now, for entitlements: a premium course counts only while the learner may see it."""

    # -- courses and lessons -------------------------------------------------------------------

    def find_course(self, name: str) -> CourseRow | None:
        """A course by id or (case-insensitive) title."""
        wanted = name.strip().lower()
        for course in self.store.courses():
            if wanted in (course.course_id.lower(), course.title.lower()):
                return course
        return None

    def enroll(self, learner_id: int, course_id: str, now: datetime) -> bool:
        """Enroll in a course; ``False`` if already enrolled.

        Raises:
            LearningError: the course is unknown, or premium and the learner is not entitled to it.
        """
        course = self.store.course(course_id)
        if course is None:
            raise LearningError(f"there is no course {course_id!r}")
        if not self.store.may_see_course(learner_id, course, now):
            raise LearningError(
                f"{course.title} is part of the premium track {course.track}; /premium unlocks it"
            )
        return self.store.enroll(learner_id, course_id, now)

    def enrolled_courses(self, learner_id: int) -> list[CourseRow]:
        """The learner's courses, most recently studied first, then in enrollment order.

        A premium course counts only while the learner is entitled to its track (at ``clock()``).
        """
        courses = [self.store.course(c) for c in self.store.enrollments(learner_id)]
        now = self.clock()
        active = [c for c in courses if c is not None and self.store.may_see_course(learner_id, c, now)]
        last_seen: dict[str, str] = {}
        for event in self.store.progress_events(learner_id):
            last_seen[event["course_id"]] = event["at"]
        order = {c.course_id: n for n, c in enumerate(active)}
        return sorted(active, key=lambda c: (-_sortable(last_seen.get(c.course_id)), order[c.course_id]))

    def done_lessons(self, learner_id: int, course_id: str) -> set[str]:
        """Lessons with a ``done`` event (progress is derived from the append-only events)."""
        return {
            e["lesson_id"] for e in self.store.progress_events(learner_id, course_id) if e["kind"] == "done"
        }

    def next_lesson(
        self, learner_id: int, course_id: str | None = None
    ) -> tuple[CourseRow, LessonRow] | None:
        """The first lesson, in course order, not done and whose prerequisites are all done."""
        courses = self._courses(learner_id, course_id)
        for course in courses:
            done = self.done_lessons(learner_id, course.course_id)
            for lesson in self.store.lessons(course.course_id):
                if lesson.lesson_id not in done and all(p in done for p in lesson.prerequisites):
                    return course, lesson
        return None

    def current_lesson(
        self, learner_id: int, course_id: str | None = None
    ) -> tuple[CourseRow, LessonRow] | None:
        """The lesson most recently opened and not yet done, else the next lesson."""
        courses = {c.course_id: c for c in self._courses(learner_id, course_id)}
        events = [e for e in self.store.progress_events(learner_id) if e["course_id"] in courses]
        done = {(e["course_id"], e["lesson_id"]) for e in events if e["kind"] == "done"}
        for event in reversed(events):
            key = (event["course_id"], event["lesson_id"])
            if event["kind"] == "started" and key not in done:
                lesson = self._lesson(*key)
                if lesson is not None:
                    return courses[key[0]], lesson
        return self.next_lesson(learner_id, course_id)

    def start_lesson(self, learner_id: int, course_id: str, lesson_id: str, now: datetime) -> None:
        """Record that the learner opened a lesson (once, and not after it is done)."""
        events = self.store.progress_events(learner_id, course_id)
        if not any(e["lesson_id"] == lesson_id for e in events):
            self.store.add_progress_event(learner_id, course_id, lesson_id, "started", now)

    def mark_done(self, learner_id: int, course_id: str, lesson_id: str, now: datetime) -> bool:
        """Mark a lesson done; ``False`` if it already was.

        Raises:
            LearningError: no such lesson.
        """
        if self._lesson(course_id, lesson_id) is None:
            raise LearningError("that lesson no longer exists")
        if lesson_id in self.done_lessons(learner_id, course_id):
            return False
        self.store.add_progress_event(learner_id, course_id, lesson_id, "done", now)
        return True

    def lesson_view(self, course: CourseRow, lesson: LessonRow) -> LessonView:
        """The lesson to read in chat: its place in the course, objectives, and its text as pages."""
        lessons = self.store.lessons(course.course_id)
        number = next((n for n, row in enumerate(lessons, 1) if row.lesson_id == lesson.lesson_id), 0)
        chunks = self._chunks(course.course_id, lesson.lesson_id)
        images = section_images(course, chunks, lesson.title)
        pages = lesson_pages(chunks, lesson.title, images=images)
        return LessonView(
            course.course_id,
            course.title,
            lesson,
            number,
            len(lessons),
            pages,
            course_url(course),
        )

    # -- quizzes -------------------------------------------------------------------------------

    def next_item(self, learner_id: int, now: datetime, course_id: str | None = None) -> QuizItem | None:
        """The most overdue review, else a new item from a lesson the learner has opened or finished."""
        courses = [c.course_id for c in self._courses(learner_id, course_id)]
        if not courses:
            return None
        due = self.store.due_cards(now, learner_id=learner_id, course_ids=courses, limit=1)
        if due:
            return self.store.quiz_item(due[0].item_id)
        seen = {card.item_id for card in self.store.review_cards(learner_id, approved_only=False)}
        for course in courses:
            studied = {e["lesson_id"] for e in self.store.progress_events(learner_id, course)}
            for item in self.store.quiz_items(course):
                if item.item_id not in seen and item.lesson_id in studied:
                    return item
        return None

    def next_review_at(self, learner_id: int, course_id: str | None = None) -> datetime | None:
        """When the learner's next card falls due (``None`` without cards)."""
        courses = {c.course_id for c in self._courses(learner_id, course_id)}
        cards = [c for c in self.store.review_cards(learner_id) if c.course_id in courses]
        return datetime.fromisoformat(cards[0].due) if cards else None

    def answer(self, learner_id: int, item_id: str, chosen: int, now: datetime) -> AnswerOutcome:
        """Check an answer, review the learner's card with FSRS and store both.

        Raises:
            LearningError: the item is unknown, retired or the option does not exist.
            NotDue: the learner answered this item already and it is not due again.
        """
        now = utc(now)
        item = self.store.quiz_item(item_id)
        if item is None or item.status != "approved":
            raise LearningError("this question is no longer asked")
        course = self.store.course(item.course_id)
        if course is not None and not self.store.may_see_course(learner_id, course, now):
            raise LearningError("this question belongs to a premium track you have no access to (/premium)")
        if not 0 <= chosen < len(item.options):
            raise LearningError("that option does not exist")
        stored = self.store.review_card(learner_id, item_id)
        before = Card.from_dict(stored.card) if stored else None
        if before is not None and before.due > now:
            raise NotDue(before.due)
        correct = chosen == item.answer
        rating = rating_for(correct)
        card = review(
            before or new_card(learner_id, item_id, now), rating, now, self._retention(item), self.fuzz
        )
        attempt_id = self.store.record_answer(
            learner_id=learner_id,
            item=item,
            chosen=chosen,
            correct=correct,
            rating=int(rating),
            card_before=before.to_dict() if before else None,
            card=card.to_dict(),
            due=card.due,
            at=now,
        )
        return AnswerOutcome(attempt_id, item, chosen, correct, rating, card)

    def rerate(self, learner_id: int, attempt_id: int, feel: Feel) -> AnswerOutcome:
        """Re-review a right answer as easy or hard, from the card as it was before that attempt.

        Raises:
            LearningError: not this learner's latest right answer to that item.
        """
        attempt = self.store.attempt(attempt_id)
        if attempt is None or attempt.learner_id != learner_id or not attempt.correct:
            raise LearningError("that rating button has expired")
        if self.store.attempts(learner_id, item_id=attempt.item_id)[-1].id != attempt_id:
            raise LearningError("that rating button has expired")
        item = self.store.quiz_item(attempt.item_id)
        assert item is not None
        at = datetime.fromisoformat(attempt.at)
        before = (
            Card.from_dict(attempt.card_before)
            if attempt.card_before
            else new_card(learner_id, item.item_id, at)
        )
        rating = rating_for(True, feel)
        card = review(before, rating, at, self._retention(item), self.fuzz)
        self.store.rerate_attempt(attempt_id, int(rating), card.to_dict(), card.due)
        return AnswerOutcome(attempt_id, item, attempt.chosen, True, rating, card)

    # -- progress ------------------------------------------------------------------------------

    def progress(self, learner_id: int, now: datetime) -> list[CourseProgress]:
        """Per enrolled course: lessons done of total, quiz accuracy, items due, streak, retention."""
        tz = zone(self.store.learner_settings(learner_id).timezone)
        result = []
        for course in self._courses(learner_id, None):
            course_id = course.course_id
            lessons = {row.lesson_id for row in self.store.lessons(course_id)}
            events = self.store.progress_events(learner_id, course_id)
            attempts = self.store.attempts(learner_id, course_id)
            cards = self.store.review_cards(learner_id, course_id)
            retention = course.desired_retention or 0.9
            # FSRS's recall prediction means something only once a card has left its learning steps:
            # right after two wrong answers a card in (re)learning is due in minutes and reads "100%".
            settled = [card for card in (Card.from_dict(c.card) for c in cards) if card.state == State.Review]
            recall = [retrievability(card, now, retention) for card in settled]
            activity = [e["at"] for e in events] + [a.at for a in attempts]
            result.append(
                CourseProgress(
                    course_id=course_id,
                    title=course.title,
                    lessons_done=len(self.done_lessons(learner_id, course_id) & lessons),
                    lessons_total=len(lessons),
                    attempts=len(attempts),
                    correct=sum(a.correct for a in attempts),
                    due=sum(1 for c in cards if c.due <= iso(now)),
                    streak_days=streak_days(activity, now, tz),
                    retention=sum(recall) / len(recall) if recall else None,
                    learning=len(cards) - len(settled),
                )
            )
        return result

    # -- helpers -------------------------------------------------------------------------------

    def _courses(self, learner_id: int, course_id: str | None) -> list[CourseRow]:
        courses = self.enrolled_courses(learner_id)
        return [c for c in courses if course_id is None or c.course_id == course_id]

    def _lesson(self, course_id: str, lesson_id: str) -> LessonRow | None:
        return next((row for row in self.store.lessons(course_id) if row.lesson_id == lesson_id), None)

    def _retention(self, item: QuizItem) -> float:
        course = self.store.course(item.course_id)
        return course.desired_retention or 0.9 if course else 0.9

    def _chunks(self, course_id: str, lesson_id: str) -> list[Chunk]:
        return list(self.lesson_chunks(course_id, lesson_id)) if self.lesson_chunks else []

    def item_citation(self, item: QuizItem) -> Citation:
        """The lesson section that backs an item: its source chunk, else the passage sharing most words."""
        chunks = self._chunks(item.course_id, item.lesson_id)
        best = next((c for c in chunks if c.chunk_id == item.source_chunk_id and item.source_chunk_id), None)
        if best is None and chunks:
            words = set(tokenize(" ".join([item.question, item.options[item.answer], item.explanation])))
            best = max(chunks, key=lambda c: (len(words & set(tokenize(c.text))), -c.position))
        if best is not None:
            return _citation(1, best)
        lesson = self._lesson(item.course_id, item.lesson_id)
        title = lesson.title if lesson else item.lesson_id
        return Citation(1, item.course_id, item.lesson_id, title, "", "", 1.0)


def streak_days(times: Sequence[str], now: datetime, tz: ZoneInfo) -> int:
    """Consecutive days with activity in the learner's time zone, ending today.

    A streak that reached yesterday still counts, so it is not lost before the day's first activity.
    """
    days = {datetime.fromisoformat(t).astimezone(tz).date() for t in times}
    today = now.astimezone(tz).date()
    day: date = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def _citation(n: int, chunk: Chunk) -> Citation:
    return Citation(
        n, chunk.course_id, chunk.lesson_id, chunk.lesson_title, chunk.heading, chunk.source_path, 1.0
    )


def _sortable(timestamp: str | None) -> float:
    return datetime.fromisoformat(timestamp).timestamp() if timestamp else 0.0
