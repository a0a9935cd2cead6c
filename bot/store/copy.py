"""Copy every row of one store into another (``learnbot migrate-to``: the SQLite file into PostgreSQL).

Both stores are migrated to the same schema first (opening a :class:`bot.store.Store` does that), so
the tables and columns match. Tables go parents first (foreign keys point backwards), in batches,
in one transaction on the target; then PostgreSQL's id sequences move past the copied ids and every
table's row count is compared. The target must be empty: a copy never merges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.store import Store

NOT_COPIED = {"schema_migrations", "apscheduler_jobs", "sqlite_sequence", "sqlite_stat1"}
"""Bookkeeping each store keeps for itself (the scheduler re-registers its jobs on the next start)."""


class CopyError(ValueError):
    """The copy cannot start (target not empty) or its counts do not match; nothing is committed then."""


@dataclass
class CopyReport:
    """Rows per table in the source and in the target after the copy."""

    source: dict[str, int] = field(default_factory=dict)
    target: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows copied, all tables together."""
        return sum(self.target.values())

    @property
    def matches(self) -> bool:
        """Whether every table holds as many rows in the target as in the source."""
        return self.source == self.target


def parents_first(store: Store, tables: list[str]) -> list[str]:
    """``tables`` ordered so that each comes after the tables its foreign keys point to."""
    needs = {
        t: {other for _, other in store.db.foreign_keys(t) if other in tables and other != t} for t in tables
    }
    ordered: list[str] = []
    while needs:
        ready = sorted(t for t, parents in needs.items() if parents <= set(ordered))
        if not ready:  # a cycle: cannot happen in this schema, but never loop forever
            ready = sorted(needs)
        for table in ready:
            ordered.append(table)
            del needs[table]
    return ordered


def copy_store(
    source: Store,
    target: Store,
    batch: int = 5000,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy all rows of ``source`` into the empty ``target``; returns the per-table counts.

    Raises:
        CopyError: ``target`` holds rows already, or a table's count differs after the copy.
    """
    tables = [t for t in source.db.table_names() if t not in NOT_COPIED]
    missing = [t for t in tables if t not in set(target.db.table_names())]
    if missing:
        raise CopyError(f"the target has no table {', '.join(missing)} (is it an older Learnbot?)")
    full = [t for t in tables if t != "meta" and target.db[t].count]
    if full:
        raise CopyError(
            f"{target.location} is not empty ({', '.join(full)} hold rows); copy into a new database"
        )
    report = CopyReport()
    with target.transaction():
        target.db.execute(
            "delete from meta"
        )  # the target's own catalogue generation, replaced by the source's
        for table in parents_first(source, tables):
            have = {name for name, _, _ in target.db.columns(table)}
            columns = [name for name, _, _ in source.db.columns(table) if name in have]
            names = ", ".join(f'"{c}"' for c in columns)
            insert = f'insert into "{table}" ({names}) values ({", ".join("?" for _ in columns)})'
            cursor = source.db.execute(f'select {names} from "{table}"')
            count = 0
            while rows := cursor.fetchmany(batch):
                target.db.executemany(insert, rows)
                count += len(rows)
                if progress is not None:
                    progress(table, len(rows))
            report.source[table] = count
        target.db.reset_sequences()
        for table in report.source:
            report.target[table] = target.db[table].count
        if not report.matches:
            wrong = [t for t in report.source if report.source[t] != report.target[t]]
            raise CopyError(f"row counts differ after the copy in {', '.join(wrong)}; nothing was committed")
    return report
