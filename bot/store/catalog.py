"""Courses, lessons and the meta table; committing a course syncs its authored quiz items."""

from __future__ import annotations

import json
from typing import Any

from bot.store.base import NEXT_QUIZ_SEQ, StoreBase, quiz_item_id, utcnow
from bot.store.rows import CourseRow
from recommender.records import LessonRow


class CatalogStore(StoreBase):
    """The catalogue half of :class:`bot.store.Store` (implements ``knowledge.ingest.Catalog``)."""

    def lesson_versions(self) -> dict[tuple[str, str], str]:
        """The current content version of every lesson, keyed by ``(course_id, lesson_id)``."""
        rows = self.db.execute("select course_id, lesson_id, version from lessons").fetchall()
        return {(c, lesson): v for c, lesson, v in rows}

    def catalog_generation(self) -> str:
        """Changes whenever any course is committed or removed (for caches in other processes)."""
        row = self.db.execute("select value from meta where key = 'catalog_generation'").fetchone()
        return row[0] if row else "0"

    def commit_course(self, course: dict[str, Any], lessons: list[dict[str, Any]]) -> None:
        """Replace a course and its lessons in one transaction (the moment a new version goes live).

        Lesson rows may carry their ``chunk_ids``: generated quiz items whose source chunk is not
        among them are then retired in the same transaction (a changed lesson's old questions go).
        """
        with self.transaction():
            self.db["courses"].upsert(course, pk="course_id")
            self.db.execute("delete from lessons where course_id = ?", [course["course_id"]])
            rows = [
                {
                    **{k: v for k, v in lesson.items() if k not in ("quiz", "chunk_ids")},
                    "course_id": course["course_id"],
                    "objectives": json.dumps(lesson.get("objectives", []), ensure_ascii=False),
                    "prerequisites": json.dumps(lesson.get("prerequisites", []), ensure_ascii=False),
                }
                for lesson in lessons
            ]
            self.db["lessons"].insert_all(rows, pk=("course_id", "lesson_id"))
            self._sync_authored_quiz(course["course_id"], lessons)
            if all("chunk_ids" in lesson for lesson in lessons):
                live = {chunk_id for lesson in lessons for chunk_id in lesson["chunk_ids"]}
                self.retire_orphaned_items(course["course_id"], live)  # type: ignore[attr-defined]
            self._bump_generation()

    def _sync_authored_quiz(self, course_id: str, lessons: list[dict[str, Any]]) -> None:
        """Upsert the course's authored items as approved; retire authored items no longer in it.

        Items are never deleted: attempts and review cards keep pointing at them, and an item whose
        text comes back is approved again with its learners' cards intact.
        """
        now = utcnow()
        wanted: set[str] = set()
        for lesson in lessons:
            for spec in lesson.get("quiz", []):
                item_id = quiz_item_id(course_id, lesson["lesson_id"], spec["question"])
                wanted.add(item_id)
                self.db.execute(
                    "insert into quiz_items(item_id, course_id, lesson_id, question, options, answer, "
                    "explanation, source_chunk_id, status, origin, created_at, updated_at, seq) "
                    "values (?, ?, ?, ?, ?, ?, ?, '', 'approved', 'authored', ?, ?, "
                    f"{NEXT_QUIZ_SEQ}) "
                    "on conflict(item_id) do update set question = excluded.question, "
                    "options = excluded.options, answer = excluded.answer, "
                    "explanation = excluded.explanation, "
                    "status = 'approved', origin = 'authored', updated_at = excluded.updated_at",
                    [
                        item_id,
                        course_id,
                        lesson["lesson_id"],
                        spec["question"],
                        json.dumps(list(spec["options"]), ensure_ascii=False),
                        int(spec["answer"]),
                        spec.get("explanation", ""),
                        now,
                        now,
                    ],
                )
        live = self.db.execute(
            "select item_id from quiz_items "
            "where course_id = ? and origin = 'authored' and status != 'retired'",
            [course_id],
        ).fetchall()
        gone = [row[0] for row in live if row[0] not in wanted]
        self.db.executemany(
            "update quiz_items set status = 'retired', updated_at = ? where item_id = ?",
            [(now, item_id) for item_id in gone],
        )

    def delete_course(self, course_id: str) -> bool:
        """Remove a course and its lessons; returns whether it existed."""
        with self.transaction():
            existed = self.db.execute("select 1 from courses where course_id = ?", [course_id]).fetchone()
            self.db.execute("delete from lessons where course_id = ?", [course_id])
            self.db.execute("delete from courses where course_id = ?", [course_id])
            # Quiz items stay (attempts point at them) but are never asked again.
            self.db.execute(
                "update quiz_items set status = 'retired', updated_at = ? where course_id = ?",
                [utcnow(), course_id],
            )
            self._bump_generation()
        return existed is not None

    def _bump_generation(self) -> None:
        self.db.execute(
            "insert into meta(key, value) values('catalog_generation', '1') on conflict(key) "
            "do update set value = cast(cast(meta.value as integer) + 1 as text)"
        )

    # -- courses and lessons ---------------------------------------------------------------

    def courses(self) -> list[CourseRow]:
        """All courses, oldest first."""
        rows = self.db["courses"].rows_where(order_by="ingested_at, course_id")
        return [CourseRow.from_row(r) for r in rows]

    def course(self, course_id: str) -> CourseRow | None:
        """One course, or ``None``."""
        rows = list(self.db["courses"].rows_where("course_id = ?", [course_id]))
        return CourseRow.from_row(rows[0]) if rows else None

    def lessons(self, course_id: str | None = None) -> list[LessonRow]:
        """Lessons in course order (pages that belong to no lesson are left out)."""
        where, args = "lesson_id != ''", []
        if course_id is not None:
            where += " and course_id = ?"
            args.append(course_id)
        return [
            LessonRow(
                course_id=r["course_id"],
                lesson_id=r["lesson_id"],
                title=r["title"],
                position=r["position"],
                module=r["module"] or "",
                objectives=json.loads(r["objectives"] or "[]"),
                minutes=r["minutes"],
                prerequisites=json.loads(r["prerequisites"] or "[]"),
                version=r["version"],
                chunk_count=r["chunk_count"],
            )
            for r in self.db["lessons"].rows_where(where, args, order_by="course_id, position")
        ]

    def get_setting(self, key: str) -> str | None:
        """A value from the meta table (e.g. which embedder built the index)."""
        row = self.db.execute("select value from meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        """Store a value in the meta table."""
        with self.transaction():
            self.db["meta"].upsert({"key": key, "value": value}, pk="key")
