"""Generated quiz items: drafted from a course's live chunks into the store, then reviewed by an admin.

The drafting and the checks live in ``knowledge.quizgen`` and ``knowledge.cloze``. This module picks
the chunks, keeps what passed the checks as drafts (``status='draft'``, ``origin='generated'``, with
the source chunk), and moves drafts through review: approve, edit (checked again), reject. Only
approved items reach learners; a generated item whose chunk leaves the course is retired when the
new version is committed (``Store.commit_course``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.store import QuizItem, Store
from knowledge.cloze import ClozeDrafter
from knowledge.keyword import KeywordIndex
from knowledge.models import Chunk
from knowledge.quiz_llm import LLMDrafter
from knowledge.quizgen import (
    ChatModel,
    Checker,
    Drafter,
    DraftItem,
    DraftRejected,
    Rejection,
    draft_items,
    pick_chunks,
)

ProgressFn = Callable[[int, int], None]


@dataclass
class GenerationReport:
    """What ``learnbot quiz generate`` did for one course."""

    course_id: str
    drafter: str
    fallback: str = ""
    chunks: int = 0
    drafted_before: int = 0
    stored: list[QuizItem] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    drafted_by: dict[str, str] = field(default_factory=dict)
    """item id -> the drafter that wrote it (``llm`` or ``extractive``)."""

    def rejected(self, drafter: str | None = None) -> Counter[str]:
        """Rejected drafts by reason (of one drafter, when named)."""
        return Counter(r.reason for r in self.rejections if drafter is None or r.drafter == drafter)

    def stored_by(self) -> Counter[str]:
        """Stored drafts by the drafter that wrote them (``llm`` or ``extractive``)."""
        return Counter(self.drafted_by.get(item.item_id, "") for item in self.stored)


class QuizWorkshop:
    """Drafts generated quiz items and takes them through the admin's review.

    Example:
        >>> report = app.quizzes.generate("security-basics", limit=10)
        >>> for item in app.quizzes.drafts("security-basics"):
        ...     app.quizzes.approve(item.item_id)
    """

    def __init__(
        self,
        store: Store,
        keyword: Callable[[], KeywordIndex],
        generator: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.keyword = keyword
        self.generator = generator

    # -- drafting ------------------------------------------------------------------------------

    def course_chunks(self, course_id: str) -> list[Chunk]:
        """The course's live chunks in course order (lesson order, then reading order)."""
        order = {lesson.lesson_id: lesson.position for lesson in self.store.lessons(course_id)}
        chunks = [c for c in self.keyword().chunks if c.course_id == course_id]
        return sorted(chunks, key=lambda c: (order.get(c.lesson_id, 1 << 30), c.source_path, c.position))

    def chat_model(self) -> ChatModel | None:
        """The answer back end if it takes a free-form chat (local or OpenAI-compatible), else ``None``."""
        generator = self.generator() if self.generator else None
        return generator if callable(getattr(generator, "chat", None)) else None

    def drafters(self, course_id: str, use_llm: bool | None = None) -> tuple[Drafter, Drafter | None]:
        """The LLM drafter with the extractive one as fallback, or the extractive one alone.

        ``use_llm``: ``None`` (the default) drafts with the answer back end unless it runs the embedded
        model (``embedded``): the packaged 0.5B model's drafts that passed the checks were all bad on a
        teacher's read (20 of 20 on the IoT course, English and Chinese: every option right, or the key
        on a wrong one), while the extractive drafter's are mostly usable. ``True`` drafts with any chat
        model the back end has (an admin who names the generator), ``False`` never.
        """
        cloze = ClozeDrafter(self.course_chunks(course_id), self.keyword())
        model = self.chat_model() if use_llm is not False else None
        if model is not None and use_llm is None and getattr(model, "embedded", False):
            model = None
        return (LLMDrafter(model), cloze) if model is not None else (cloze, None)

    def checker(self, course_id: str, leave_out: str = "") -> Checker:
        """The checks, knowing the course's questions (retired ones aside; ``leave_out`` an item id)."""
        items = self.store.quiz_items(course_id, status=None)
        return Checker(q.question for q in items if q.status != "retired" and q.item_id != leave_out)

    def generate(
        self,
        course_id: str,
        limit: int = 20,
        use_llm: bool | None = None,
        progress: ProgressFn | None = None,
    ) -> GenerationReport:
        """Draft one item from each of up to ``limit`` chunks that have no generated item yet.

        Drafts that pass the checks are stored as drafts; the report counts the rest by reason.
        ``use_llm`` is as for :meth:`drafters`.

        Raises:
            ValueError: no such course, or ``limit`` below 1.
        """
        if self.store.course(course_id) is None:
            raise ValueError(f"no course with id {course_id!r}; `learnbot courses` lists them")
        if limit < 1:
            raise ValueError("--limit must be at least 1")
        primary, fallback = self.drafters(course_id, use_llm)
        done_before = self.store.generated_chunk_ids(course_id)
        chunks = pick_chunks(self.course_chunks(course_id), limit, skip=done_before)
        report = GenerationReport(
            course_id, primary.name, fallback.name if fallback else "", drafted_before=len(done_before)
        )
        if progress:
            progress(0, len(chunks))
        run = draft_items(
            chunks,
            primary,
            self.checker(course_id),
            fallback,
            on_chunk=(lambda done: progress(done, len(chunks))) if progress else None,
        )
        report.chunks = run.chunks
        report.rejections = list(run.rejections)
        for draft in run.accepted:
            item_id = self._store(draft)
            if item_id is None:
                report.rejections.append(
                    Rejection(draft.chunk.chunk_id, draft.drafter, "duplicate", "an item with this id exists")
                )
                continue
            item = self.store.quiz_item(item_id)
            assert item is not None
            report.stored.append(item)
            report.drafted_by[item_id] = draft.drafter
        return report

    def _store(self, draft: DraftItem) -> str | None:
        return self.store.add_quiz_draft(
            course_id=draft.chunk.course_id,
            lesson_id=draft.chunk.lesson_id,
            question=draft.question,
            options=list(draft.options),
            answer=draft.answer,
            explanation=draft.explanation,
            source_chunk_id=draft.chunk.chunk_id,
        )

    # -- review --------------------------------------------------------------------------------

    def drafts(self, course_id: str | None = None) -> list[QuizItem]:
        """Generated items waiting for review, in course and lesson order."""
        return [q for q in self.store.quiz_items(course_id, status="draft") if q.origin == "generated"]

    def source(self, item: QuizItem) -> Chunk | None:
        """The live chunk an item was drafted from, or ``None`` when it is gone."""
        return next(
            (
                c
                for c in self.keyword().chunks
                if c.chunk_id == item.source_chunk_id and c.course_id == item.course_id
            ),
            None,
        )

    def approve(self, item_id: str) -> bool:
        """Let learners see a draft; ``False`` if it is not a draft."""
        return self.store.review_quiz_draft(item_id, "approved")

    def reject(self, item_id: str) -> bool:
        """Never show a draft (its chunk is not drafted from again); ``False`` if it is not a draft."""
        return self.store.review_quiz_draft(item_id, "rejected")

    def edit(
        self, item_id: str, question: str, options: Sequence[str], answer: int, explanation: str
    ) -> QuizItem:
        """Change a draft after checking the new text like a fresh draft; it stays a draft.

        Raises:
            DraftRejected: the edited item fails a check (nothing is changed).
            ValueError: not a generated draft.
        """
        item = self.store.quiz_item(item_id)
        if item is None or item.status != "draft" or item.origin != "generated":
            raise ValueError(f"{item_id} is not a generated draft")
        chunk = self.source(item)
        if chunk is None:
            raise DraftRejected("unsupported", "its source chunk is no longer in the course")
        options = [" ".join(o.split()) for o in options]
        draft = DraftItem(
            " ".join(question.split()), tuple(options), answer, explanation.strip(), chunk, "edit"
        )
        self.checker(item.course_id, leave_out=item_id).check(draft)
        self.store.edit_quiz_draft(
            item_id, question=draft.question, options=options, answer=answer, explanation=draft.explanation
        )
        edited = self.store.quiz_item(item_id)
        assert edited is not None
        return edited
