"""The SQLite repository: the only code that writes SQL.

One database file in the data dir, WAL mode, numbered idempotent migrations. Later features add
their tables by appending a migration to :data:`MIGRATIONS`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils


def utcnow() -> str:
    """The current UTC time as ISO 8601 text (what every timestamp column holds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _migration_1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["courses"].create(
        {
            "course_id": str,
            "title": str,
            "language": str,
            "track": str,
            "premium": int,
            "description": str,
            "desired_retention": float,
            "source": str,
            "lesson_count": int,
            "chunk_count": int,
            "ingested_at": str,
        },
        pk="course_id",
        if_not_exists=True,
    )
    db["lessons"].create(
        {
            "course_id": str,
            "lesson_id": str,
            "title": str,
            "position": int,
            "module": str,
            "objectives": str,
            "minutes": int,
            "prerequisites": str,
            "version": str,
            "chunk_count": int,
        },
        pk=("course_id", "lesson_id"),
        foreign_keys=[("course_id", "courses", "course_id")],
        if_not_exists=True,
    )
    db["learners"].create(
        {"id": int, "display_name": str, "language": str, "created_at": str}, pk="id", if_not_exists=True
    )
    db["identities"].create(
        {"platform": str, "platform_user_id": str, "learner_id": int, "created_at": str},
        pk=("platform", "platform_user_id"),
        foreign_keys=[("learner_id", "learners", "id")],
        if_not_exists=True,
    )
    db["questions_log"].create(
        {
            "id": int,
            "learner_id": int,
            "platform": str,
            "question": str,
            "answer": str,
            "grounded": int,
            "language": str,
            "citations": str,
            "latency_ms": float,
            "feedback": str,
            "created_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["questions_log"].create_index(["learner_id"], if_not_exists=True)


def _migration_2(db: sqlite_utils.Database) -> None:
    db["processed_deliveries"].create(
        {"platform": str, "delivery_id": str, "created_at": str},
        pk=("platform", "delivery_id"),
        if_not_exists=True,
    )
    db["admins"].create(
        {"platform": str, "platform_user_id": str, "created_at": str},
        pk=("platform", "platform_user_id"),
        if_not_exists=True,
    )
    db["link_codes"].create(
        {"code": str, "learner_id": int, "expires_at": str, "used_at": str},
        pk="code",
        foreign_keys=[("learner_id", "learners", "id")],
        if_not_exists=True,
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "courses, lessons, learners, identities, questions log", _migration_1),
    (2, "processed deliveries, admins, link codes", _migration_2),
]


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


class Store:
    """SQLite repository for courses, learners and the questions log.

    Example:
        >>> store = Store(Path("data/learnbot.db"))
        >>> store.learner_for("console", "me")
        1
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.migrate()

    # -- schema ----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, each in its own transaction; returns their numbers."""
        self.db["schema_migrations"].create(
            {"version": int, "name": str, "applied_at": str}, pk="version", if_not_exists=True
        )
        done = {row["version"] for row in self.db["schema_migrations"].rows}
        applied = []
        for version, name, apply in MIGRATIONS:
            if version in done:
                continue
            with self.transaction():
                apply(self.db)
                self.db["schema_migrations"].insert(
                    {"version": version, "name": name, "applied_at": utcnow()}
                )
            applied.append(version)
        return applied

    @property
    def schema_version(self) -> int:
        """The highest applied migration."""
        row = self.db.execute("select max(version) from schema_migrations").fetchone()
        return int(row[0] or 0)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work (nested calls join the outer one)."""
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:
                yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection."""
        self.db.conn.close()

    # -- catalogue (implements knowledge.ingest.Catalog) -----------------------------------

    def lesson_versions(self) -> dict[tuple[str, str], str]:
        """The current content version of every lesson, keyed by ``(course_id, lesson_id)``."""
        rows = self.db.execute("select course_id, lesson_id, version from lessons").fetchall()
        return {(c, lesson): v for c, lesson, v in rows}

    def catalog_generation(self) -> str:
        """Changes whenever any course is committed or removed (for caches in other processes)."""
        row = self.db.execute("select value from meta where key = 'catalog_generation'").fetchone()
        return row[0] if row else "0"

    def commit_course(self, course: dict[str, Any], lessons: list[dict[str, Any]]) -> None:
        """Replace a course and its lessons in one transaction (the moment a new version goes live)."""
        with self.transaction():
            self.db["courses"].upsert(course, pk="course_id")
            self.db.execute("delete from lessons where course_id = ?", [course["course_id"]])
            rows = [
                {
                    **lesson,
                    "course_id": course["course_id"],
                    "objectives": json.dumps(lesson.get("objectives", []), ensure_ascii=False),
                    "prerequisites": json.dumps(lesson.get("prerequisites", []), ensure_ascii=False),
                }
                for lesson in lessons
            ]
            self.db["lessons"].insert_all(rows, pk=("course_id", "lesson_id"))
            self._bump_generation()

    def delete_course(self, course_id: str) -> bool:
        """Remove a course and its lessons; returns whether it existed."""
        with self.transaction():
            existed = self.db.execute("select 1 from courses where course_id = ?", [course_id]).fetchone()
            self.db.execute("delete from lessons where course_id = ?", [course_id])
            self.db.execute("delete from courses where course_id = ?", [course_id])
            self._bump_generation()
        return existed is not None

    def _bump_generation(self) -> None:
        self.db.execute(
            "insert into meta(key, value) values('catalog_generation', '1') on conflict(key) "
            "do update set value = cast(value as integer) + 1"
        )

    # -- courses and lessons ---------------------------------------------------------------

    def courses(self) -> list[dict[str, Any]]:
        """All courses, oldest first."""
        return list(self.db["courses"].rows_where(order_by="ingested_at, course_id"))

    def course(self, course_id: str) -> dict[str, Any] | None:
        """One course row, or ``None``."""
        rows = list(self.db["courses"].rows_where("course_id = ?", [course_id]))
        return rows[0] if rows else None

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

    # -- learners --------------------------------------------------------------------------

    def learner_for(self, platform: str, platform_user_id: str, display_name: str = "") -> int:
        """The learner behind a platform identity, created on first contact."""
        with self.transaction():
            row = self.db.execute(
                "select learner_id from identities where platform = ? and platform_user_id = ?",
                [platform, platform_user_id],
            ).fetchone()
            if row:
                return int(row[0])
            learner_id = (
                self.db["learners"]
                .insert({"display_name": display_name, "language": "", "created_at": utcnow()})
                .last_pk
            )
            self.db["identities"].insert(
                {
                    "platform": platform,
                    "platform_user_id": platform_user_id,
                    "learner_id": learner_id,
                    "created_at": utcnow(),
                }
            )
            return int(learner_id)

    # -- questions log ---------------------------------------------------------------------

    def log_question(
        self,
        *,
        learner_id: int | None,
        platform: str,
        question: str,
        answer: str,
        grounded: bool,
        language: str,
        citations: list[dict[str, Any]],
        latency_ms: float,
    ) -> int:
        """Record an answered (or refused) question; returns its id for later feedback."""
        with self.transaction():
            return int(
                self.db["questions_log"]
                .insert(
                    {
                        "learner_id": learner_id,
                        "platform": platform,
                        "question": question,
                        "answer": answer,
                        "grounded": int(grounded),
                        "language": language,
                        "citations": json.dumps(citations, ensure_ascii=False),
                        "latency_ms": latency_ms,
                        "feedback": "",
                        "created_at": utcnow(),
                    }
                )
                .last_pk
            )

    def questions(self, learner_id: int | None = None) -> list[dict[str, Any]]:
        """Logged questions, newest last."""
        if learner_id is None:
            return list(self.db["questions_log"].rows_where(order_by="id"))
        return list(self.db["questions_log"].rows_where("learner_id = ?", [learner_id], order_by="id"))

    def record_feedback(self, question_id: int, learner_id: int, feedback: str) -> bool:
        """Store "up"/"down" on a logged question of this learner; returns whether it was found."""
        with self.transaction():
            cursor = self.db.execute(
                "update questions_log set feedback = ? where id = ? and learner_id = ?",
                [feedback, question_id, learner_id],
            )
            return cursor.rowcount > 0

    # -- deliveries ------------------------------------------------------------------------

    def first_delivery(self, platform: str, delivery_id: str) -> bool:
        """Record a platform delivery; ``False`` when it was seen before (so it is not handled twice)."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into processed_deliveries(platform, delivery_id, created_at) "
                "values (?, ?, ?)",
                [platform, delivery_id, utcnow()],
            )
            return cursor.rowcount == 1

    # -- admins ----------------------------------------------------------------------------

    def add_admin(self, platform: str, platform_user_id: str) -> None:
        """Make a platform user an admin."""
        with self.transaction():
            self.db["admins"].upsert(
                {"platform": platform, "platform_user_id": platform_user_id, "created_at": utcnow()},
                pk=("platform", "platform_user_id"),
            )

    def remove_admin(self, platform: str, platform_user_id: str) -> bool:
        """Revoke an admin; returns whether they were one."""
        with self.transaction():
            cursor = self.db.execute(
                "delete from admins where platform = ? and platform_user_id = ?", [platform, platform_user_id]
            )
            return cursor.rowcount > 0

    def is_admin(self, platform: str, platform_user_id: str) -> bool:
        """Whether a platform user is an admin."""
        row = self.db.execute(
            "select 1 from admins where platform = ? and platform_user_id = ?", [platform, platform_user_id]
        ).fetchone()
        return row is not None

    def admins(self) -> list[dict[str, Any]]:
        """Every admin."""
        return list(self.db["admins"].rows_where(order_by="platform, platform_user_id"))

    # -- linking identities ----------------------------------------------------------------

    def create_link_code(self, learner_id: int, code: str, expires_at: str) -> None:
        """Store a one-time code that lets another platform identity join this learner."""
        with self.transaction():
            self.db["link_codes"].insert(
                {"code": code, "learner_id": learner_id, "expires_at": expires_at, "used_at": ""}
            )

    def redeem_link_code(self, code: str, platform: str, platform_user_id: str, now: str) -> int | None:
        """Join the identity to the code's learner; ``None`` if the code is unknown, used or expired.

        The identity's old learner record is merged: its questions move to the code's learner.
        """
        with self.transaction():
            row = self.db.execute(
                "select learner_id from link_codes where code = ? and used_at = '' and expires_at > ?",
                [code, now],
            ).fetchone()
            if row is None:
                return None
            target = int(row[0])
            self.db.execute("update link_codes set used_at = ? where code = ?", [now, code])
            current = self.db.execute(
                "select learner_id from identities where platform = ? and platform_user_id = ?",
                [platform, platform_user_id],
            ).fetchone()
            if current is not None and int(current[0]) != target:
                old = int(current[0])
                for table in MERGED_BY_LEARNER:
                    self.db.execute(f"update {table} set learner_id = ? where learner_id = ?", [target, old])
                self.db.execute("update identities set learner_id = ? where learner_id = ?", [target, old])
                self.db.execute("delete from learners where id = ?", [old])
            elif current is None:
                self.db["identities"].insert(
                    {
                        "platform": platform,
                        "platform_user_id": platform_user_id,
                        "learner_id": target,
                        "created_at": now,
                    }
                )
            return target

    def identities(self, learner_id: int) -> list[dict[str, Any]]:
        """The platform identities of a learner."""
        return list(self.db["identities"].rows_where("learner_id = ?", [learner_id], order_by="platform"))


MERGED_BY_LEARNER = ["questions_log", "link_codes"]
"""Tables whose rows follow a learner when two identities are linked (later features append theirs)."""
