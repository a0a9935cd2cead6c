"""The database schema: numbered, idempotent migrations, and the tables that follow a learner.

Later features add their tables by appending a migration to :data:`MIGRATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


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


def _migration_4(db: sqlite_utils.Database) -> None:
    learner_fk = ("learner_id", "learners", "id")
    # Where a learner talks to the bot, per platform; pushes go to their latest direct chat.
    db["chats"].create(
        {"learner_id": int, "platform": str, "chat_id": str, "direct": int, "updated_at": str},
        pk=("learner_id", "platform", "chat_id"),
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )
    db["chats"].create_index(["learner_id", "updated_at"], if_not_exists=True)
    # Every push (due quiz, weekly feedback, nudge) is recorded here before it is sent; the unique
    # key makes a rerun or an overlapping run find the row instead of sending again.
    db["sent_pushes"].create(
        {
            "id": int,
            "kind": str,
            "learner_id": int,
            "item_id": str,
            "due": str,
            "local_day": str,
            "platform": str,
            "chat_id": str,
            "status": str,
            "attempts": int,
            "claimed_by": str,
            "claimed_at": str,
            "next_attempt_at": str,
            "last_error": str,
            "created_at": str,
            "sent_at": str,
        },
        pk="id",
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )
    db["sent_pushes"].create_index(["learner_id", "kind", "item_id", "due"], unique=True, if_not_exists=True)
    db["sent_pushes"].create_index(["status", "kind", "next_attempt_at"], if_not_exists=True)
    db["sent_pushes"].create_index(["kind", "created_at"], if_not_exists=True)


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "courses, lessons, learners, identities, questions log", _migration_1),
    (2, "processed deliveries, admins, link codes", _migration_2),
    (
        3,
        "enrollments, progress events, quiz items, review cards, quiz attempts, learner settings",
        _migration_3,
    ),
    (4, "chats, sent pushes", _migration_4),
]

MERGED_BY_LEARNER = [
    "questions_log",
    "link_codes",
    "enrollments",
    "progress_events",
    "review_cards",
    "quiz_attempts",
    "learner_settings",
    "chats",
    "sent_pushes",
]
"""Tables whose rows follow a learner when two identities are linked (later features append theirs)."""
