"""Enrollments, progress events, quiz items, review cards, attempts and learner settings."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from bot.store.base import NEXT_QUIZ_SEQ, StoreBase, iso, quiz_item_id, utcnow
from bot.store.rows import (
    Attempt,
    LearnerSettings,
    QuizItem,
    ReviewCardRow,
    _attempt,
    _quiz_item,
    _review_card,
)


class LearningStore(StoreBase):
    """What learners do: the learning half of :class:`bot.store.Store`."""

    # -- enrollments and progress ----------------------------------------------------------

    def enroll(self, learner_id: int, course_id: str, at: datetime) -> bool:
        """Enroll a learner in a course; ``False`` if they already were."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into enrollments(learner_id, course_id, enrolled_at) values (?, ?, ?)",
                [learner_id, course_id, iso(at)],
            )
            return cursor.rowcount == 1

    def enrollments(self, learner_id: int) -> list[str]:
        """The course ids a learner is enrolled in, first enrolled first."""
        rows = self.db.execute(
            "select course_id from enrollments where learner_id = ? order by enrolled_at, course_id",
            [learner_id],
        ).fetchall()
        return [row[0] for row in rows]

    def enrollment_times(self, learner_id: int) -> dict[str, str]:
        """Course id -> when the learner enrolled (ISO time), in the order the rows are stored."""
        rows = self.db["enrollments"].rows_where("learner_id = ?", [learner_id])
        return {row["course_id"]: row["enrolled_at"] for row in rows}

    def add_progress_event(
        self, learner_id: int, course_id: str, lesson_id: str, kind: str, at: datetime
    ) -> None:
        """Append a ``started`` or ``done`` event (events are never changed or deleted)."""
        if kind not in ("started", "done"):
            raise ValueError(f"unknown progress event kind {kind!r}")
        with self.transaction():
            self.db["progress_events"].insert(
                {
                    "learner_id": learner_id,
                    "course_id": course_id,
                    "lesson_id": lesson_id,
                    "kind": kind,
                    "at": iso(at),
                }
            )

    def progress_events(self, learner_id: int, course_id: str | None = None) -> list[dict[str, Any]]:
        """A learner's progress events, oldest first."""
        where, args = "learner_id = ?", [learner_id]
        if course_id is not None:
            where += " and course_id = ?"
            args.append(course_id)
        return list(self.db["progress_events"].rows_where(where, args, order_by="at, id"))

    # -- quiz items ------------------------------------------------------------------------

    def quiz_items(
        self, course_id: str | None = None, status: str | None = "approved", lesson_id: str | None = None
    ) -> list[QuizItem]:
        """Quiz items in course and lesson order (``status=None``: whatever their status)."""
        clauses, args = ["1 = 1"], []
        for column, value in (("q.course_id", course_id), ("q.status", status), ("q.lesson_id", lesson_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        rows = self.db.execute(
            "select q.* from quiz_items q left join lessons l "
            "on l.course_id = q.course_id and l.lesson_id = q.lesson_id "
            f"where {' and '.join(clauses)} "
            "order by q.course_id, coalesce(l.position, 1e9), q.created_at, q.seq",
            args,
        )
        names = [d[0] for d in rows.description]
        return [_quiz_item(dict(zip(names, row, strict=True))) for row in rows.fetchall()]

    def quiz_item(self, item_id: str) -> QuizItem | None:
        """One quiz item, whatever its status, or ``None``."""
        rows = list(self.db["quiz_items"].rows_where("item_id = ?", [item_id]))
        return _quiz_item(rows[0]) if rows else None

    # -- generated quiz items: drafts wait for an admin ------------------------------------

    def add_quiz_draft(
        self,
        *,
        course_id: str,
        lesson_id: str,
        question: str,
        options: list[str],
        answer: int,
        explanation: str,
        source_chunk_id: str,
    ) -> str | None:
        """Store a generated item as a draft; its id, or ``None`` when an item with that id exists."""
        item_id = quiz_item_id(course_id, lesson_id, question)
        now = utcnow()
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into quiz_items(item_id, course_id, lesson_id, question, options, answer, "
                "explanation, source_chunk_id, status, origin, created_at, updated_at, seq) "
                f"values (?, ?, ?, ?, ?, ?, ?, ?, 'draft', 'generated', ?, ?, {NEXT_QUIZ_SEQ})",
                [
                    item_id,
                    course_id,
                    lesson_id,
                    question,
                    json.dumps(list(options), ensure_ascii=False),
                    int(answer),
                    explanation,
                    source_chunk_id,
                    now,
                    now,
                ],
            )
        return item_id if cursor.rowcount == 1 else None

    def generated_chunk_ids(self, course_id: str) -> set[str]:
        """Chunks of a course that an item was generated from already (whatever became of it)."""
        rows = self.db.execute(
            "select distinct source_chunk_id from quiz_items where course_id = ? and origin = 'generated'",
            [course_id],
        ).fetchall()
        return {row[0] for row in rows if row[0]}

    def review_quiz_draft(self, item_id: str, status: str) -> bool:
        """Approve (``approved``) or reject (``rejected``) a generated draft; ``False`` if not a draft."""
        if status not in ("approved", "rejected"):
            raise ValueError(f"a draft is approved or rejected, not {status!r}")
        with self.transaction():
            cursor = self.db.execute(
                "update quiz_items set status = ?, updated_at = ? "
                "where item_id = ? and status = 'draft' and origin = 'generated'",
                [status, utcnow(), item_id],
            )
        return cursor.rowcount == 1

    def edit_quiz_draft(
        self, item_id: str, *, question: str, options: list[str], answer: int, explanation: str
    ) -> bool:
        """Change a generated draft's text (its id stays); ``False`` if it is not a draft."""
        with self.transaction():
            cursor = self.db.execute(
                "update quiz_items set question = ?, options = ?, answer = ?, explanation = ?, "
                "updated_at = ? where item_id = ? and status = 'draft' and origin = 'generated'",
                [
                    question,
                    json.dumps(list(options), ensure_ascii=False),
                    int(answer),
                    explanation,
                    utcnow(),
                    item_id,
                ],
            )
        return cursor.rowcount == 1

    def retire_orphaned_items(self, course_id: str, live_chunk_ids: set[str]) -> int:
        """Retire the course's generated items whose source chunk is not live; returns how many.

        Called when a course version goes live (``commit_course``), in the same transaction.
        """
        with self.transaction():
            rows = self.db.execute(
                "select item_id, source_chunk_id from quiz_items "
                "where course_id = ? and origin = 'generated' and status in ('draft', 'approved')",
                [course_id],
            ).fetchall()
            gone = [item_id for item_id, chunk_id in rows if chunk_id not in live_chunk_ids]
            now = utcnow()
            self.db.executemany(
                "update quiz_items set status = 'retired', updated_at = ? where item_id = ?",
                [(now, item_id) for item_id in gone],
            )
        return len(gone)

    # -- review cards and attempts ---------------------------------------------------------

    def review_card(self, learner_id: int, item_id: str) -> ReviewCardRow | None:
        """A learner's card for an item, or ``None`` if they never answered it."""
        rows = list(
            self.db["review_cards"].rows_where("learner_id = ? and item_id = ?", [learner_id, item_id])
        )
        return _review_card(rows[0]) if rows else None

    def review_cards(
        self, learner_id: int, course_id: str | None = None, approved_only: bool = True
    ) -> list[ReviewCardRow]:
        """A learner's cards, soonest due first (by default only those of items still asked)."""
        sql = (
            "select c.* from review_cards c join quiz_items q on q.item_id = c.item_id where c.learner_id = ?"
        )
        args: list[Any] = [learner_id]
        if course_id is not None:
            sql += " and c.course_id = ?"
            args.append(course_id)
        if approved_only:
            sql += " and q.status = 'approved'"
        return self._cards(sql + " order by c.due, c.item_id", args)

    def due_cards(
        self,
        now: datetime,
        learner_id: int | None = None,
        course_ids: list[str] | None = None,
        limit: int | None = None,
    ) -> list[ReviewCardRow]:
        """Cards of approved items due by ``now``, most overdue first (uses the index on ``due``)."""
        sql = (
            "select c.* from review_cards c join quiz_items q on q.item_id = c.item_id "
            "where c.due <= ? and q.status = 'approved'"
        )
        args: list[Any] = [iso(now)]
        if learner_id is not None:
            sql += " and c.learner_id = ?"
            args.append(learner_id)
        if course_ids is not None:
            sql += f" and c.course_id in ({', '.join('?' for _ in course_ids)})"
            args.extend(course_ids)
        sql += " order by c.due, c.learner_id, c.item_id"
        if limit is not None:
            sql += " limit ?"
            args.append(limit)
        return self._cards(sql, args)

    def _cards(self, sql: str, args: list[Any]) -> list[ReviewCardRow]:
        cursor = self.db.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [_review_card(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def record_answer(
        self,
        *,
        learner_id: int,
        item: QuizItem,
        chosen: int,
        correct: bool,
        rating: int,
        card_before: dict[str, Any] | None,
        card: dict[str, Any],
        due: datetime,
        at: datetime,
    ) -> int:
        """Store an attempt and the item's new review card together; returns the attempt id."""
        with self.transaction():
            attempt_id = (
                self.db["quiz_attempts"]
                .insert(
                    {
                        "learner_id": learner_id,
                        "item_id": item.item_id,
                        "course_id": item.course_id,
                        "chosen": chosen,
                        "correct": int(correct),
                        "rating": rating,
                        "card_before": json.dumps(card_before) if card_before is not None else "",
                        "at": iso(at),
                    }
                )
                .last_pk
            )
            self._save_card(learner_id, item.item_id, item.course_id, card, due)
            return int(attempt_id)

    def rerate_attempt(self, attempt_id: int, rating: int, card: dict[str, Any], due: datetime) -> None:
        """Change an attempt's rating and replace the card it produced (an "easy" / "hard" tap)."""
        with self.transaction():
            attempt = self.attempt(attempt_id)
            if attempt is None:
                raise KeyError(attempt_id)
            self.db.execute("update quiz_attempts set rating = ? where id = ?", [rating, attempt_id])
            self._save_card(attempt.learner_id, attempt.item_id, attempt.course_id, card, due)

    def _save_card(
        self, learner_id: int, item_id: str, course_id: str, card: dict[str, Any], due: datetime
    ) -> None:
        self.db["review_cards"].upsert(
            {
                "learner_id": learner_id,
                "item_id": item_id,
                "course_id": course_id,
                "card": json.dumps(card),
                "due": iso(due),
                "updated_at": utcnow(),
            },
            pk=("learner_id", "item_id"),
        )

    def attempt(self, attempt_id: int) -> Attempt | None:
        """One attempt, or ``None``."""
        rows = list(self.db["quiz_attempts"].rows_where("id = ?", [attempt_id]))
        return _attempt(rows[0]) if rows else None

    def attempts(
        self, learner_id: int, course_id: str | None = None, item_id: str | None = None
    ) -> list[Attempt]:
        """A learner's attempts, oldest first."""
        where, args = "learner_id = ?", [learner_id]
        for column, value in (("course_id", course_id), ("item_id", item_id)):
            if value is not None:
                where += f" and {column} = ?"
                args.append(value)
        return [_attempt(r) for r in self.db["quiz_attempts"].rows_where(where, args, order_by="at, id")]

    # -- learner settings ------------------------------------------------------------------

    def learner_settings(self, learner_id: int) -> LearnerSettings:
        """A learner's settings (the defaults until they change one)."""
        rows = list(self.db["learner_settings"].rows_where("learner_id = ?", [learner_id]))
        if not rows:
            return LearnerSettings()
        r = rows[0]
        return LearnerSettings(
            r["timezone"], r["active_start"], r["active_end"], bool(r["paused"]), r["language"]
        )

    def update_learner_settings(self, learner_id: int, **changes: Any) -> LearnerSettings:
        """Change some of a learner's settings; returns them all."""
        with self.transaction():
            settings = replace(self.learner_settings(learner_id), **changes)
            row = {**asdict(settings), "paused": int(settings.paused)}
            self.db["learner_settings"].upsert(
                {"learner_id": learner_id, **row, "updated_at": utcnow()}, pk="learner_id"
            )
            return settings
