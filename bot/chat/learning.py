"""Chat commands and buttons of the learning loop: /courses, /enroll, /lesson, /done, /quiz, /progress.

The rules live in :mod:`bot.learning`; this module only turns them into replies (the learner's
/settings, /pause and /resume are :mod:`bot.chat.preferences`). The router registers
:meth:`LearningChat.commands` and :meth:`LearningChat.buttons` (by callback-data prefix).
``/courses`` and a lesson's first page also name topics and levels, from a
:class:`~bot.chat.topics.TopicSource` when one is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.chat.callbacks import course_data, lesson_digest
from bot.chat.context import ChatContext, Conversation, ConversationState, Handler
from bot.chat.topics import TopicSource, course_topics_line
from bot.learning import AnswerOutcome, LearningError, LearningLoop, NotDue
from bot.lesson_sections import LessonView, page_index, page_reply
from bot.messages import Button, Reply
from bot.reviews import zone
from bot.store import QuizItem, Store
from bot.store.rows import CourseRow
from recommender.records import LessonRow

__all__ = ["LearningChat", "when"]
NOT_ENROLLED = "You are not enrolled in a course yet. /courses lists them; /enroll COURSE starts one."


def when(due: datetime, now: datetime, tz: ZoneInfo) -> str:
    """``in 10 minutes (Mon 02 Mar 09:10 your time)``: when something falls due, for the learner."""
    seconds = (due - now).total_seconds()
    if seconds < 30:
        return "now"
    if seconds < 3600:
        relative = _plural(max(1, round(seconds / 60)), "minute")
    elif seconds < 2 * 86400:
        relative = _plural(round(seconds / 3600), "hour")
    else:
        relative = _plural(round(seconds / 86400), "day")
    return f"in {relative} ({due.astimezone(tz):%a %d %b %H:%M} your time)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class LearningChat:
    """The learning loop's chat handlers.

    Example:
        >>> chat = LearningChat(store, LearningLoop(store), topics=recommender)
        >>> bot.commands.update(chat.commands())
    """

    def __init__(
        self,
        store: Store,
        loop: LearningLoop,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        state: ConversationState | None = None,
        topics: TopicSource | None = None,
    ) -> None:
        self.store = store
        self.loop = loop
        self.now = now
        self.state = state if state is not None else ConversationState()
        """Where the quiz waiting for a typed answer and the page reached in each lesson are kept."""
        self.topics = topics
        """What ``/courses`` and a lesson's first page say each course or lesson is about (none: nothing)."""

    def commands(self) -> dict[str, Handler]:
        """Slash commands, by name."""
        return {
            "courses": self.courses,
            "enroll": self.enroll,
            "lesson": self.lesson,
            "done": self.done,
            "quiz": self.quiz,
            "progress": self.progress,
        }

    def buttons(self) -> dict[str, Handler]:
        """Button handlers, by the callback data's prefix (they get the data after ``prefix:``)."""
        return {
            "done": self._done_button,
            "lesson": self._lesson_button,
            "read": self._read_button,
            "quiz": self._quiz_button,
            "rate": self._rate,
        }

    def _tz(self, learner_id: int) -> ZoneInfo:
        return zone(self.store.learner_settings(learner_id).timezone)

    # -- the catalogue, enrolling and lessons --------------------------------------------------

    async def courses(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/courses``: the courses open to the learner, with their topics; locked premium ones by title."""
        courses = self.store.courses()
        if not courses:
            return [Reply("No courses are available yet.")]
        topics = await asyncio.to_thread(self.topics.course_topics) if self.topics is not None else {}
        learner_id, now = ctx.learner_id, ctx.now
        enrolled = set(self.store.enrollments(learner_id))
        lines, locked = ["Courses:"], []
        for c in courses:
            if not self.store.may_see_course(learner_id, c, now):  # an upsell: title only, no content
                locked.append(f"- [premium, locked] {c.title} ({c.course_id}), track {c.track}")
                continue
            mark = " (enrolled)" if c.course_id in enrolled else ""
            lines.append(f"- {c.title} ({c.course_id}): {c.lesson_count} lessons, {c.language}{mark}")
            if c.course_id in topics:
                lines.append(course_topics_line(topics[c.course_id]))
        lines.append("Join one with /enroll COURSE_ID.")
        if locked:
            lines += ["", "Premium (unlock with /premium):", *locked]
        return [Reply("\n".join(lines))]

    async def enroll(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/enroll COURSE``: join a course by id or title."""
        if not argument:
            return [
                Reply("Which course? Send /enroll followed by its id, for example /enroll security-basics.")
            ]
        course = self.loop.find_course(argument)
        if course is None:
            return [Reply(f"I don't know the course {argument!r}. /courses lists the ones you can join.")]
        learner_id = ctx.learner_id
        try:
            new = self.loop.enroll(learner_id, course.course_id, self.now())
        except LearningError as exc:
            return [Reply(f"Sorry, {exc}.")]
        start = [[Button("Start the first lesson", course_data("lesson", course.course_id))]]
        if not new:
            return [Reply(f"You are already enrolled in {course.title}. /lesson opens your next lesson.")]
        return [Reply(f"You are enrolled in {course.title}. /lesson opens your first lesson.", buttons=start)]

    async def lesson(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/lesson [COURSE]``: the lesson you are on, at the page you reached (its first page at first)."""
        learner_id = ctx.learner_id
        course_id, refusal = self._scope(learner_id, argument)
        if refusal:
            return [Reply(refusal)]
        found = self.loop.current_lesson(learner_id, course_id)
        if found is None:
            return [Reply("You have finished every lesson of your courses. /quiz keeps them fresh.")]
        course, lesson = found
        self.loop.start_lesson(learner_id, course.course_id, lesson.lesson_id, self.now())
        view = await asyncio.to_thread(self.loop.lesson_view, course, lesson)
        reached = self.state.reading.get((learner_id, course.course_id, lesson.lesson_id), 0)
        return [await self.lesson_page(view, reached)]

    async def lesson_page(self, view: LessonView, index: int = 0) -> Reply:
        """Page ``index`` of a lesson; its first page names the lesson's topics and level.

        ``/lesson`` shows lessons this way, and so does the recommender's "Open" button.
        """
        found = None
        if self.topics is not None and page_index(view, index) == 0:
            found = await asyncio.to_thread(self.topics.lesson_topics, view.course_id, view.lesson.lesson_id)
        return page_reply(view, index, found)

    async def _read_button(self, ctx: ChatContext, rest: str) -> list[Reply]:
        """The "Next section" button: page N of a lesson of an enrolled course the learner may see now."""
        page, _, named = rest.partition(":")
        learner_id = ctx.learner_id
        found = self._resolve_lesson(learner_id, named) if page.isdigit() else None
        if found is None:
            return [Reply("That button has expired. /lesson shows your current lesson.")]
        course, lesson = found
        self.loop.start_lesson(learner_id, course.course_id, lesson.lesson_id, self.now())
        view = await asyncio.to_thread(self.loop.lesson_view, course, lesson)
        index = min(int(page), max(len(view.pages) - 1, 0))
        self.state.reading[(learner_id, course.course_id, lesson.lesson_id)] = index
        return [page_reply(view, index)]

    async def done(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/done [COURSE]``: mark the lesson you are on as done."""
        learner_id = ctx.learner_id
        course_id, refusal = self._scope(learner_id, argument)
        if refusal:
            return [Reply(refusal)]
        found = self.loop.current_lesson(learner_id, course_id)
        if found is None:
            return [Reply("Every lesson of your courses is done already. /progress shows how you are doing.")]
        return self._mark_done(learner_id, found[0], found[1])

    def _mark_done(self, learner_id: int, course: CourseRow, lesson: LessonRow) -> list[Reply]:
        course_id = course.course_id
        try:
            if not self.loop.mark_done(learner_id, course_id, lesson.lesson_id, self.now()):
                return [Reply(f"{lesson.title} is done already. /lesson opens your next lesson.")]
        except LearningError as exc:
            return [Reply(f"Sorry, {exc}.")]
        self.state.reading.pop((learner_id, course_id, lesson.lesson_id), None)
        done = len(self.loop.done_lessons(learner_id, course_id))
        total = len(self.store.lessons(course_id))
        text = f"Done: {lesson.title} ({done} of {total} lessons of {course.title})."
        buttons = [Button("Quiz me on it", "quiz:next")]
        upcoming = self.loop.next_lesson(learner_id, course_id)
        if upcoming is None:
            text += " That was the last lesson of the course. Well done!"
        else:
            text += f" Next: {upcoming[1].title}. /lesson opens it, /quiz tests what you just learned."
            buttons.append(Button("Next lesson", course_data("lesson", course_id)))
        return [Reply(text, buttons=[buttons])]

    async def _done_button(self, ctx: ChatContext, rest: str) -> list[Reply]:
        learner_id = ctx.learner_id
        found = self._resolve_lesson(learner_id, rest)
        if found is None:
            return [Reply("That button has expired. /lesson shows your current lesson.")]
        return self._mark_done(learner_id, *found)

    async def _lesson_button(self, ctx: ChatContext, rest: str) -> list[Reply]:
        return await self.lesson(ctx, rest)

    def _resolve_lesson(self, learner_id: int, rest: str) -> tuple[CourseRow, LessonRow] | None:
        """The enrolled course and lesson a ``done:`` button names (directly or by digest)."""
        for course in self.loop.enrolled_courses(learner_id):
            for lesson in self.store.lessons(course.course_id):
                if rest in (
                    f"{course.course_id}:{lesson.lesson_id}",
                    f"~{lesson_digest(course.course_id, lesson.lesson_id)}",
                ):
                    return course, lesson
        return None

    def _scope(self, learner_id: int, argument: str) -> tuple[str | None, str]:
        """The course a command is about (``None``: all of the learner's), or why it cannot run."""
        enrolled = [c.course_id for c in self.loop.enrolled_courses(learner_id)]
        course = self.loop.find_course(argument) if argument.strip() else None
        # A premium course whose access ended is locked, not "not enrolled": say how to unlock it.
        locked = [course] if course is not None else []
        if not enrolled and not locked:
            locked = [c for c in map(self.store.course, self.store.enrollments(learner_id)) if c]
        for row in locked:
            if not self.store.may_see_course(learner_id, row, self.now()):
                return None, (
                    f"{row.title} is a premium course and locked for you now: /premium unlocks "
                    f"its track ({row.track})."
                )
        if not enrolled:
            return None, NOT_ENROLLED
        if not argument.strip():
            return None, ""
        if course is None or course.course_id not in enrolled:
            return None, f"You are not enrolled in {argument.strip()!r}. /courses lists the courses."
        return course.course_id, ""

    # -- quizzes -------------------------------------------------------------------------------

    async def quiz(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/quiz [COURSE]``: the most overdue review, else a new question from a lesson you studied."""
        learner_id = ctx.learner_id
        course_id, refusal = self._scope(learner_id, argument)
        if refusal:
            return [Reply(refusal)]
        now = self.now()
        item = self.loop.next_item(learner_id, now, course_id)
        if item is None:
            self.state.quizzes.pop(ctx.message.conversation, None)
            upcoming = self.loop.next_review_at(learner_id, course_id)
            if upcoming is None:
                return [Reply("No questions for you yet: open a lesson with /lesson, then try /quiz again.")]
            return [
                Reply(
                    "Nothing is due right now. Your next review is "
                    f"{when(upcoming, now, self._tz(learner_id))}; /lesson moves you on meanwhile."
                )
            ]
        self.state.quizzes[ctx.message.conversation] = item
        return [self.quiz_reply(item)]

    def quiz_reply(self, item: QuizItem, heading: str = "Quiz") -> Reply:
        """A quiz question with one button per option (``/quiz`` and the scheduled pushes)."""
        lesson = next((r for r in self.store.lessons(item.course_id) if r.lesson_id == item.lesson_id), None)
        lines = [f"{heading}: {lesson.title if lesson else item.lesson_id}", "", item.question, ""]
        lines += [f"{n}. {option}" for n, option in enumerate(item.options, 1)]
        lines += ["", "Tap an answer, or reply with its number."]
        buttons = [
            [Button(f"{n}. {option}"[:60], f"quiz:{item.item_id}:{n - 1}")]
            for n, option in enumerate(item.options, 1)
        ]
        return Reply("\n".join(lines), buttons=buttons)

    def expect_answer(self, conversation: Conversation, item: QuizItem) -> None:
        """A number sent next in this conversation answers ``item`` (a pushed quiz, like ``/quiz``)."""
        self.state.quizzes[conversation] = item

    async def _quiz_button(self, ctx: ChatContext, rest: str) -> list[Reply]:
        if rest == "next":
            return await self.quiz(ctx, "")
        item_id, _, index = rest.partition(":")
        if not index.isdigit():
            return [Reply("That button has expired.")]
        return self._answer(ctx, item_id, int(index))

    async def answer_text(self, ctx: ChatContext, text: str) -> list[Reply] | None:
        """A number replying to the quiz just shown answers it; ``None`` when the text is not an answer."""
        item = self.state.quizzes.pop(ctx.message.conversation, None)
        if item is None:
            return None
        if text.strip().isdigit() and 1 <= int(text.strip()) <= len(item.options):
            return self._answer(ctx, item.item_id, int(text.strip()) - 1)
        return None  # anything else is a question; the quiz stays one /quiz away

    def _answer(self, ctx: ChatContext, item_id: str, chosen: int) -> list[Reply]:
        learner_id = ctx.learner_id
        now = self.now()
        self.state.quizzes.pop(ctx.message.conversation, None)
        try:
            outcome = self.loop.answer(learner_id, item_id, chosen, now)
        except NotDue as exc:
            return [
                Reply(
                    "You answered this one already; it comes back "
                    f"{when(exc.due, now, self._tz(learner_id))}. /quiz for another."
                )
            ]
        except LearningError as exc:
            return [Reply(f"Sorry, {exc}. /quiz asks another.")]
        return [self._outcome_reply(learner_id, outcome, now)]

    def _outcome_reply(self, learner_id: int, outcome: AnswerOutcome, now: datetime) -> Reply:
        item = outcome.item
        if outcome.correct:
            text = "Right!"
        else:
            text = f"Not quite. The answer is: {item.options[item.answer]}."
        if item.explanation:
            text += f" {item.explanation}"
        citation = self.loop.item_citation(item)
        text += f" [1]\n\nI'll ask again {when(outcome.due, now, self._tz(learner_id))}."
        buttons = [[Button("Next question", "quiz:next")]]
        if outcome.correct:
            text += " Was it easy or hard?"
            buttons.insert(
                0,
                [
                    Button("Easy", f"rate:{outcome.attempt_id}:easy"),
                    Button("Hard", f"rate:{outcome.attempt_id}:hard"),
                ],
            )
        return Reply(text, [citation], buttons)

    async def _rate(self, ctx: ChatContext, rest: str) -> list[Reply]:
        attempt, _, feel = rest.partition(":")
        if not attempt.isdigit() or feel not in ("easy", "hard"):
            return [Reply("That button has expired.")]
        learner_id = ctx.learner_id
        try:
            outcome = self.loop.rerate(learner_id, int(attempt), feel)  # type: ignore[arg-type]
        except LearningError:
            return [Reply("That button has expired.")]
        due = when(outcome.due, self.now(), self._tz(learner_id))
        return [
            Reply(f"Noted: {feel}. I'll ask again {due}.", buttons=[[Button("Next question", "quiz:next")]])
        ]

    # -- progress ------------------------------------------------------------------------------

    async def progress(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/progress``: per course, lessons done, quiz accuracy, items due, streak, predicted retention."""
        learner_id = ctx.learner_id
        rows = self.loop.progress(learner_id, self.now())
        if not rows:
            return [Reply(NOT_ENROLLED)]
        lines = ["Your progress:"]
        for p in rows:
            accuracy = (
                f"quiz accuracy {p.accuracy:.0%} ({p.correct} of {p.attempts})"
                if p.accuracy is not None
                else "no quiz answers yet"
            )
            if p.retention is not None:
                retention = f"predicted retention {p.retention:.0%}"
            elif p.learning:
                retention = "predicted retention once your answers settle (items still being learned)"
            else:
                retention = "no reviews yet"
            lines.append(
                f"- {p.title}: {p.lessons_done} of {p.lessons_total} lessons done; {accuracy}; "
                f"{p.due} due now; streak {_plural(p.streak_days, 'day')}; {retention}"
            )
        return [Reply("\n".join(lines))]
