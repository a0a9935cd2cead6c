"""The SQLite repository: the only code that writes SQL.

One database file in the data dir, WAL mode, numbered idempotent migrations. Later features add
their tables by appending a migration to :data:`MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from bot.store.base import StoreBase, iso, quiz_item_id, utcnow
from bot.store.catalog import CatalogStore
from bot.store.learning import LearningStore
from bot.store.people import PeopleStore
from bot.store.premium import PremiumStore
from bot.store.pushes import ActiveHours, LearnerClock, Push, PushCandidate, PushStore
from bot.store.rights import RightsStore
from bot.store.rows import Attempt, LearnerSettings, LessonRow, QuizItem, ReviewCardRow
from bot.store.schema import MERGED_BY_LEARNER, MIGRATIONS
from bot.store.teams import TeamsStore

__all__ = [
    "MERGED_BY_LEARNER",
    "MIGRATIONS",
    "ActiveHours",
    "Attempt",
    "LearnerClock",
    "LearnerSettings",
    "LessonRow",
    "Push",
    "PushCandidate",
    "QuizItem",
    "ReviewCardRow",
    "Store",
    "StoreBase",
    "iso",
    "quiz_item_id",
    "utcnow",
]


class Store(CatalogStore, PeopleStore, LearningStore, PushStore, PremiumStore, RightsStore, TeamsStore):
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
        # Deleted rows (an erased learner's questions) are overwritten with zeros, not left in free
        # space; per connection, so every process's Store sets it.
        self.db.execute("PRAGMA secure_delete = ON")
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

    def close(self) -> None:
        """Close the database connection."""
        self.db.conn.close()
