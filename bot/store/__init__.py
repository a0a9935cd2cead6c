"""The repository: the only code that writes SQL, once, for SQLite and PostgreSQL alike.

The embedded default is one SQLite file in the data dir (WAL mode); ``LEARNBOT_DATABASE_URL`` moves
the same tables to PostgreSQL. Migrations are numbered and idempotent and apply on start. Later features add
their tables by appending a migration to :data:`MIGRATIONS`.
"""

from __future__ import annotations

from pathlib import Path

from bot.database import Database, DatabaseUnavailable, connect, describe, is_postgres
from bot.store.base import StoreBase, iso, quiz_item_id, utcnow
from bot.store.catalog import CatalogStore
from bot.store.learning import LearningStore
from bot.store.people import PeopleStore
from bot.store.premium import PremiumStore
from bot.store.pushes import ActiveHours, LearnerClock, Push, PushCandidate, PushStore
from bot.store.rights import RightsStore
from bot.store.rows import Attempt, LearnerSettings, QuizItem, ReviewCardRow
from bot.store.schema import MERGED_BY_LEARNER, MIGRATIONS, apply_migration
from bot.store.teams import TeamsStore

__all__ = [
    "MERGED_BY_LEARNER",
    "MIGRATIONS",
    "ActiveHours",
    "DatabaseUnavailable",
    "SchemaTooNew",
    "Attempt",
    "LearnerClock",
    "LearnerSettings",
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


class SchemaTooNew(ValueError):
    """The database was migrated by a newer Learnbot than this one: refuse to touch it.

    A ``ValueError`` so the CLI prints it as one line and exits 2, like an unusable setting.
    """


class Store(CatalogStore, PeopleStore, LearningStore, PushStore, PremiumStore, RightsStore, TeamsStore):
    """The repository for courses, learners and the questions log, on SQLite or PostgreSQL.

    Args:
        path: The SQLite file (the embedded default), ``:memory:``, or a ``postgresql://`` URL.

    Raises:
        DatabaseUnavailable: PostgreSQL cannot be reached or refuses the login.
        SchemaTooNew: The database holds migrations this code does not know.

    Example:
        >>> store = Store(Path("data/learnbot.db"))  # or Store("postgresql://bot@db/learnbot")
        >>> store.learner_for("console", "me")
        1
    """

    def __init__(self, path: Path | str) -> None:
        self.path: Path | str = str(path) if is_postgres(path) else Path(path)
        self.db: Database = connect(path)
        self._lock = self.db.lock
        self.migrate()

    @property
    def location(self) -> str:
        """Where the data lives, for messages: the file, or PostgreSQL's host and database (no password)."""
        return describe(str(self.path)) if self.db.postgres else str(self.path)

    # -- schema ----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, each in its own transaction; returns their numbers.

        Raises:
            SchemaTooNew: The database was migrated further than :data:`MIGRATIONS` goes.
        """
        with self.transaction():
            self.db.execute(
                "create table if not exists schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
            )
        done = {row[0] for row in self.db.execute("select version from schema_migrations").fetchall()}
        known = max(version for version, _, _ in MIGRATIONS)
        if done and max(done) > known:
            raise SchemaTooNew(
                f"the database at {self.location} has schema version {max(done)}, newer than this "
                f"Learnbot knows ({known}): upgrade Learnbot, or restore a backup made by this version"
            )
        applied = []
        for version, name, migration in MIGRATIONS:
            if version in done:
                continue
            with self.transaction():
                # Two replicas starting at once: the second waits for the lock, then finds it done.
                if self.db.execute("select 1 from schema_migrations where version = ?", [version]).fetchone():
                    continue
                apply_migration(self.db, migration)
                self.db.execute(
                    "insert into schema_migrations(version, name, applied_at) values (?, ?, ?)",
                    [version, name, utcnow()],
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
        self.db.close()
