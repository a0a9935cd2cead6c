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


def _migration_5(db: sqlite_utils.Database) -> None:
    learner_fk = ("learner_id", "learners", "id")
    # Prices are versioned, never edited: an invoice names its version, so a price change makes
    # older invoices stale (refused at pre-checkout) and a payment maps to the exact terms it paid.
    db["track_prices"].create(
        {
            "track": str,
            "version": int,
            "stars": int,
            "period_days": int,
            "subscription": int,
            "created_at": str,
        },
        pk=("track", "version"),
        if_not_exists=True,
    )
    # The payment ledger: one row per Telegram charge, written once; a refund only sets its status.
    # No foreign key on learner_id: erasing a learner pseudonymises the row and keeps it.
    db["payments"].create(
        {
            "id": int,
            "telegram_payment_charge_id": str,
            "provider_payment_charge_id": str,
            "learner_id": int,
            "telegram_user_id": str,
            "track": str,
            "price_version": int,
            "currency": str,
            "amount": int,
            "payload": str,
            "kind": str,
            "subscription_until": str,
            "status": str,
            "paid_at": str,
            "refunded_at": str,
        },
        pk="id",
        not_null={"telegram_payment_charge_id"},
        if_not_exists=True,
    )
    db["payments"].create_index(["telegram_payment_charge_id"], unique=True, if_not_exists=True)
    db["payments"].create_index(["learner_id"], if_not_exists=True)
    # Each paid period (or admin grant) is its own row; access is any live row covering now.
    db["entitlements"].create(
        {
            "id": int,
            "learner_id": int,
            "track": str,
            "starts_at": str,
            "valid_until": str,
            "source": str,
            "charge_id": str,
            "revoked_at": str,
            "ended_at": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )
    db["entitlements"].create_index(["learner_id", "track", "valid_until"], if_not_exists=True)
    db["entitlements"].create_index(["valid_until"], if_not_exists=True)
    db["entitlements"].create_index(["ended_at", "valid_until"], if_not_exists=True)  # the expiry job
    db["org_grants"].create(
        {
            "id": int,
            "platform": str,
            "team_id": str,
            "track": str,
            "valid_until": str,
            "created_at": str,
            "revoked_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["org_grants"].create_index(["platform", "team_id"], if_not_exists=True)
    db["learner_teams"].create(
        {"learner_id": int, "platform": str, "team_id": str, "updated_at": str},
        pk=("learner_id", "platform", "team_id"),
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )
    db["premium_blocks"].create(
        {"learner_id": int, "reason": str, "created_at": str},
        pk="learner_id",
        foreign_keys=[learner_fk],
        if_not_exists=True,
    )


def _migration_6(db: sqlite_utils.Database) -> None:
    # Teams of learners and the managers who get their weekly digest (issue 7).
    db["teams"].create({"team_id": str, "name": str, "created_at": str}, pk="team_id", if_not_exists=True)
    db["team_members"].create(
        {"team_id": str, "learner_id": int, "added_at": str},
        pk=("team_id", "learner_id"),
        foreign_keys=[("team_id", "teams", "team_id"), ("learner_id", "learners", "id")],
        if_not_exists=True,
    )
    db["team_members"].create_index(["learner_id"], if_not_exists=True)
    db["team_managers"].create(
        {"team_id": str, "platform": str, "platform_user_id": str, "added_at": str},
        pk=("team_id", "platform", "platform_user_id"),
        foreign_keys=[("team_id", "teams", "team_id")],
        if_not_exists=True,
    )
    db["team_managers"].create_index(["platform", "platform_user_id"], if_not_exists=True)
    # Content tags, computed after ingestion for each lesson version (keywords, difficulty, vector).
    db["lesson_tags"].create(
        {
            "course_id": str,
            "lesson_id": str,
            "version": str,
            "keywords": str,
            "text_difficulty": float,
            "vector": bytes,
            "computed_at": str,
        },
        pk=("course_id", "lesson_id"),
        if_not_exists=True,
    )
    db["quiz_attempts"].create_index(["at"], if_not_exists=True)
    db["progress_events"].create_index(["at"], if_not_exists=True)


def _migration_7(db: sqlite_utils.Database) -> None:
    # Wrong /link codes per platform account, so guessing one is throttled (issue 14).
    db["link_failures"].create(
        {"id": int, "platform": str, "platform_user_id": str, "at": str}, pk="id", if_not_exists=True
    )
    db["link_failures"].create_index(["platform", "platform_user_id", "at"], if_not_exists=True)


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "courses, lessons, learners, identities, questions log", _migration_1),
    (2, "processed deliveries, admins, link codes", _migration_2),
    (
        3,
        "enrollments, progress events, quiz items, review cards, quiz attempts, learner settings",
        _migration_3,
    ),
    (4, "chats, sent pushes", _migration_4),
    (
        5,
        "track prices, payments ledger, entitlements, org grants, learner teams, premium blocks",
        _migration_5,
    ),
    (6, "teams, team members, team managers, lesson tags", _migration_6),
    (7, "wrong link codes (throttle)", _migration_7),
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
    "payments",
    "entitlements",
    "learner_teams",
    "premium_blocks",
    "team_members",
]
"""Tables whose rows follow a learner when two identities are linked (later features append theirs)."""
