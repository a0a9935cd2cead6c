"""The SQLite repository: the only code that writes SQL.

One database file in the data dir, WAL mode, numbered idempotent migrations. Later features add
their tables by appending a migration to :data:`MIGRATIONS`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils


def utcnow() -> str:
    """The current UTC time as ISO 8601 text (what every timestamp column holds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(moment: datetime) -> str:
    """A timezone-aware moment as the UTC ISO 8601 text the timestamp columns hold (sortable as text).

    Raises:
        ValueError: ``moment`` has no time zone (a naive time would silently mean the server's zone).
    """
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def quiz_item_id(course_id: str, lesson_id: str, question: str) -> str:
    """A quiz item's stable id: a hash of its course, lesson and question text (whitespace folded)."""
    payload = "\x1f".join((course_id, lesson_id, " ".join(question.split())))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


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


def _migration_3(db: sqlite_utils.Database) -> None:
    learner_fk = ("learner_id", "learners", "id")
    db["enrollments"].create(
        {"learner_id": int, "course_id": str, "enrolled_at": str},
        pk=("learner_id", "course_id"),
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )
    db["progress_events"].create(  # append-only; the current state is derived from it
        {"id": int, "learner_id": int, "course_id": str, "lesson_id": str, "kind": str, "at": str},
        pk="id",
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )
    db["progress_events"].create_index(["learner_id", "course_id"], if_not_exists=True)
    db["quiz_items"].create(
        {
            "item_id": str,
            "course_id": str,
            "lesson_id": str,
            "question": str,
            "options": str,
            "answer": int,
            "explanation": str,
            "source_chunk_id": str,
            "status": str,
            "origin": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="item_id",
        if_not_exists=True,
    )
    db["quiz_items"].create_index(["course_id", "status"], if_not_exists=True)
    db["review_cards"].create(
        {"learner_id": int, "item_id": str, "course_id": str, "card": str, "due": str, "updated_at": str},
        pk=("learner_id", "item_id"),
        foreign_keys=[learner_fk, ("item_id", "quiz_items", "item_id")],
        if_not_exists=True,
    )
    # The scheduler scans "everything due by now" across learners; a learner's own view filters first.
    db["review_cards"].create_index(["due"], if_not_exists=True)
    db["review_cards"].create_index(["learner_id", "due"], if_not_exists=True)
    db["quiz_attempts"].create(
        {
            "id": int,
            "learner_id": int,
            "item_id": str,
            "course_id": str,
            "chosen": int,
            "correct": int,
            "rating": int,
            "card_before": str,
            "at": str,
        },
        pk="id",
        foreign_keys=[learner_fk, ("item_id", "quiz_items", "item_id")],
        if_not_exists=True,
    )
    db["quiz_attempts"].create_index(["learner_id", "course_id"], if_not_exists=True)
    db["quiz_attempts"].create_index(["learner_id", "item_id"], if_not_exists=True)
    db["learner_settings"].create(
        {
            "learner_id": int,
            "timezone": str,
            "active_start": int,
            "active_end": int,
            "paused": int,
            "language": str,
            "updated_at": str,
        },
        pk="learner_id",
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "courses, lessons, learners, identities, questions log", _migration_1),
    (2, "processed deliveries, admins, link codes", _migration_2),
    (
        3,
        "enrollments, progress events, quiz items, review cards, quiz attempts, learner settings",
        _migration_3,
    ),
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
                    **{k: v for k, v in lesson.items() if k != "quiz"},
                    "course_id": course["course_id"],
                    "objectives": json.dumps(lesson.get("objectives", []), ensure_ascii=False),
                    "prerequisites": json.dumps(lesson.get("prerequisites", []), ensure_ascii=False),
                }
                for lesson in lessons
            ]
            self.db["lessons"].insert_all(rows, pk=("course_id", "lesson_id"))
            self._sync_authored_quiz(course["course_id"], lessons)
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
                    "explanation, source_chunk_id, status, origin, created_at, updated_at) "
                    "values (?, ?, ?, ?, ?, ?, ?, '', 'approved', 'authored', ?, ?) "
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
        self.db.conn.executemany(
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
                    # Where both learners hold the same key (an enrollment, a card, settings), the
                    # code's learner keeps theirs and the other row goes.
                    self.db.execute(
                        f"update or ignore {table} set learner_id = ? where learner_id = ?", [target, old]
                    )
                    self.db.execute(f"delete from {table} where learner_id = ?", [old])
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
            "order by q.course_id, coalesce(l.position, 1e9), q.created_at, q.rowid",
            args,
        )
        names = [d[0] for d in rows.description]
        return [_quiz_item(dict(zip(names, row, strict=True))) for row in rows.fetchall()]

    def quiz_item(self, item_id: str) -> QuizItem | None:
        """One quiz item, whatever its status, or ``None``."""
        rows = list(self.db["quiz_items"].rows_where("item_id = ?", [item_id]))
        return _quiz_item(rows[0]) if rows else None

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


MERGED_BY_LEARNER = [
    "questions_log",
    "link_codes",
    "enrollments",
    "progress_events",
    "review_cards",
    "quiz_attempts",
    "learner_settings",
]
"""Tables whose rows follow a learner when two identities are linked (later features append theirs)."""


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
