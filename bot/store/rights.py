"""Learner data rights in SQL: find every row about one learner, export it, erase it; retention pruning.

Tables are discovered from the schema, not listed by hand, so a table another feature adds is covered
as soon as its migration runs. A row is about a learner when

- a column named ``learner_id`` (or ``..._learner_id``), or one with a foreign key to ``learners``,
  holds the learner's id; or
- the table has a ``platform`` column and a ``platform_user_id`` (or ``user_id``) column matching one
  of the learner's platform identities (identities, admins, team members by platform id ...).

Ledger tables (:data:`PSEUDONYMISED`) keep their rows on erase, cut loose from the person: their
learner columns become NULL (or point at a fresh learner row with no identity when the column may not
be NULL), identity columns become ``"erased"``, and payload-like text columns are blanked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.store.base import StoreBase, iso, utcnow

log = logging.getLogger(__name__)

PSEUDONYMISED = ["payments"]
"""Tables whose rows the law requires us to keep (the payment ledger): pseudonymised, never deleted."""
PAYLOAD_COLUMNS = re.compile(r"payload|provider_data|order_info|email|phone|name", re.IGNORECASE)
"""Text columns of a kept ledger row that may identify the person; they are blanked on erase."""
USER_COLUMNS = ("platform_user_id", "user_id")
SKIPPED = {"schema_migrations", "apscheduler_jobs", "processed_deliveries", "meta", "sqlite_sequence"}
ERASED = "erased"


@dataclass(frozen=True)
class LearnerTable:
    """A table that holds rows about learners, and the columns that say whose they are."""

    name: str
    learner_columns: tuple[str, ...]
    user_column: str = ""
    """The platform user id column (next to ``platform``), if the table has one."""
    platform_columns: tuple[tuple[str, str], ...] = ()
    """``(column, platform)`` for columns such as ``telegram_user_id`` that hold one platform's user id."""
    not_null: frozenset[str] = frozenset()


@dataclass
class EraseReport:
    """What erasing one learner did."""

    learner_id: int
    identities: list[tuple[str, str]] = field(default_factory=list)
    chats: list[tuple[str, str]] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    pseudonymised: dict[str, int] = field(default_factory=dict)

    @property
    def rows_deleted(self) -> int:
        """Rows deleted in all tables."""
        return sum(self.deleted.values())

    @property
    def payments_kept(self) -> int:
        """Ledger rows kept, pseudonymised."""
        return sum(self.pseudonymised.values())


class RightsStore(StoreBase):
    """Export and erase one learner's rows; prune old questions and deliveries."""

    # -- discovery -------------------------------------------------------------------------

    def learner_tables(self) -> list[LearnerTable]:
        """Every table with rows about learners (``learners`` itself first), found from the schema."""
        found = [LearnerTable("learners", ("id",))]
        for name in self.db.table_names():
            if name in SKIPPED or name == "learners":
                continue
            columns = {column: not_null for column, _, not_null in self.db.columns(name)}
            learner = [c for c in columns if c == "learner_id" or c.endswith("_learner_id")]
            for column, other in self.db.foreign_keys(name):
                if other == "learners" and column not in learner:
                    learner.append(column)
            user = next((c for c in USER_COLUMNS if c in columns), "") if "platform" in columns else ""
            platform = tuple(
                (c, c.removesuffix("_user_id"))
                for c in columns
                if c.endswith("_user_id") and c not in USER_COLUMNS
            )
            if learner or user or platform:
                not_null = frozenset(c for c, nn in columns.items() if nn)
                found.append(LearnerTable(name, tuple(learner), user, platform, not_null))
        return found

    def _where(
        self, table: LearnerTable, learner_id: int, identities: list[tuple[str, str]]
    ) -> tuple[str, list]:
        clauses: list[str] = [f'"{c}" = ?' for c in table.learner_columns]
        args: list[Any] = [learner_id] * len(table.learner_columns)
        for platform, user in identities:
            if table.user_column:
                clauses.append(f'(platform = ? and "{table.user_column}" = ?)')
                args += [platform, user]
            for column, its_platform in table.platform_columns:
                if its_platform == platform:
                    clauses.append(f'"{column}" = ?')
                    args.append(user)
        return " or ".join(clauses) or "1 = 0", args

    def learner_identities(self, learner_id: int) -> list[tuple[str, str]]:
        """``(platform, platform user id)`` of each identity linked to the learner."""
        rows = self.db.execute(
            "select platform, platform_user_id from identities where learner_id = ? order by platform",
            [learner_id],
        ).fetchall()
        return [(p, u) for p, u in rows]

    def resolve_learner(self, who: str) -> int | None:
        """A learner id from ``"12"`` (a learner id) or ``"telegram:12345"`` (a platform identity)."""
        who = who.strip()
        if who.isdigit():
            row = self.db.execute("select id from learners where id = ?", [int(who)]).fetchone()
            return int(row[0]) if row else None
        platform, _, user = who.partition(":")
        row = self.db.execute(
            "select learner_id from identities where platform = ? and platform_user_id = ?", [platform, user]
        ).fetchone()
        return int(row[0]) if row else None

    # -- export ----------------------------------------------------------------------------

    def learner_rows(self, learner_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every stored row about the learner, by table (tables without any row are left out)."""
        identities = self.learner_identities(learner_id)
        data: dict[str, list[dict[str, Any]]] = {}
        for table in self.learner_tables():
            where, args = self._where(table, learner_id, identities)
            key = self.db.primary_key(table.name)
            order = f" order by {', '.join(key)}" if key else ""
            cursor = self.db.execute(f'select * from "{table.name}" where {where}{order}', args)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            if rows:
                data[table.name] = rows
        return data

    # -- erase -----------------------------------------------------------------------------

    def erase_learner(self, learner_id: int) -> EraseReport:
        """Delete every row about the learner, on every linked identity, in one transaction.

        Ledger rows (:data:`PSEUDONYMISED`) are kept and pseudonymised instead.
        """
        with self.transaction():
            report = EraseReport(learner_id, self.learner_identities(learner_id))
            report.chats = [
                (p, c)
                for p, c in self.db.execute(
                    "select platform, chat_id from chats where learner_id = ?", [learner_id]
                ).fetchall()
            ]
            self.db.defer_foreign_keys()  # child and parent rows go in one step
            tables = self.learner_tables()
            for table in [t for t in tables if t.name != "learners"] + tables[:1]:
                where, args = self._where(table, learner_id, report.identities)
                if table.name in PSEUDONYMISED:
                    count = self._pseudonymise(table, where, args)
                    if count:
                        report.pseudonymised[table.name] = count
                    continue
                count = self.db.execute(f'delete from "{table.name}" where {where}', args).rowcount
                if count:
                    report.deleted[table.name] = count
        self.checkpoint()
        return report

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database file and empty it; ``False`` if a reader held it.

        After an erase, the learner's rows still lie in older WAL frames until SQLite checkpoints
        on its own (maybe not while ``serve`` runs); TRUNCATE leaves the ``-wal`` file empty.
        """
        if str(getattr(self, "path", ":memory:")) == ":memory:":
            return True
        with self._lock:
            done = self.db.checkpoint()
        if not done:
            log.warning("the database is busy: the write-ahead log is emptied at the next checkpoint")
        return done

    def _pseudonymise(self, table: LearnerTable, where: str, args: list[Any]) -> int:
        key = self.db.primary_key(table.name)
        ids = self.db.execute(f'select {", ".join(key)} from "{table.name}" where {where}', args).fetchall()
        if not ids:
            return 0
        sets: list[str] = []
        values: list[Any] = []
        tombstone: int | None = None
        for column in table.learner_columns:
            if column in table.not_null:
                if tombstone is None:  # a learner row with no identity and no name: points at nobody
                    tombstone = int(
                        self.db["learners"]
                        .insert({"display_name": "", "language": "", "created_at": utcnow()})
                        .last_pk
                    )
                sets.append(f'"{column}" = ?')
                values.append(tombstone)
            else:
                sets.append(f'"{column}" = null')
        for column in [table.user_column, *(c for c, _ in table.platform_columns)]:
            if column:
                sets.append(f'"{column}" = ?')
                values.append(ERASED)
        for column, kind, _ in self.db.columns(table.name):
            if PAYLOAD_COLUMNS.search(column) and kind in ("TEXT", "CHARACTER VARYING"):
                sets.append(f'"{column}" = ?')
                values.append(ERASED)
        match = " and ".join(f'"{column}" = ?' for column in key)
        for row in ids:
            self.db.execute(f'update "{table.name}" set {", ".join(sets)} where {match}', [*values, *row])
        return len(ids)

    # -- retention -------------------------------------------------------------------------

    def prune_questions(self, before: datetime) -> int:
        """Delete logged questions older than ``before``; returns how many."""
        with self.transaction():
            return self.db.execute("delete from questions_log where created_at < ?", [iso(before)]).rowcount

    def prune_deliveries(self, before: datetime) -> int:
        """Forget platform delivery ids older than ``before`` (the platforms stopped retrying them)."""
        with self.transaction():
            return self.db.execute(
                "delete from processed_deliveries where created_at < ?", [iso(before)]
            ).rowcount
