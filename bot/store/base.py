"""What every part of the store shares: the connection, transactions, and timestamp and id helpers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from bot.database import Database


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


NEXT_QUIZ_SEQ = "(select coalesce(max(seq), 0) + 1 from quiz_items)"
"""A new quiz item's place in insertion order (inside a write transaction, so writers take turns)."""


class StoreBase:
    """The connection and transaction handling the store's parts build on (see :class:`bot.store.Store`)."""

    db: Database
    _lock: threading.RLock

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work (nested calls join the outer one); writers take turns."""
        with self.db.transaction():
            yield
