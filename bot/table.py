"""Row helpers for one table, in the shape of sqlite-utils' (which the store grew up with).

``db["lessons"].insert(...)``, ``.upsert(...)``, ``.rows_where(...)``: the statements are written in
the SQL both engines share and run through :class:`bot.database.Database`, which translates them
for PostgreSQL. This module names only the few statements it needs (:class:`Statements`), so the
database can hand out tables without the two modules importing each other.

Example:
    >>> admins = db["admins"]
    >>> admins.insert({"platform": "slack", "platform_user_id": "U1", "created_at": now}, ignore=True).last_pk
    ('slack', 'U1')
    >>> list(admins.rows_where("platform = ?", ["slack"], select="platform_user_id"))
    [{'platform_user_id': 'U1'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Statements(Protocol):
    """What a table needs from its database (:class:`bot.database.Database` is one)."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement with ``?`` placeholders; returns a DB-API cursor."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        """Rows of a select as dicts."""
        ...

    def table_names(self) -> list[str]:
        """The tables, sorted."""
        ...

    def primary_key(self, table: str) -> list[str]:
        """The primary key's columns, in key order."""
        ...


class Table:
    """Row helpers for one table, in the shape of sqlite-utils' (which the store grew up with)."""

    def __init__(self, db: Statements, name: str) -> None:
        self.db = db
        self.name = name
        self.last_pk: Any = None

    def insert(self, record: dict[str, Any], pk: Any = None, ignore: bool = False) -> Table:
        """Insert one row; ``last_pk`` is then its key (a generated id too)."""
        keys = self.db.primary_key(self.name) if pk is None else ([pk] if isinstance(pk, str) else list(pk))
        columns = list(record)
        sql = (
            f'insert {"or ignore " if ignore else ""}into "{self.name}" '
            f"({', '.join(f'{c!s}' for c in columns)}) values ({', '.join('?' for _ in columns)})"
        )
        single = len(keys) == 1
        if single and keys[0] not in record:
            row = self.db.execute(sql + f" returning {keys[0]}", [record[c] for c in columns]).fetchone()
            self.last_pk = row[0] if row else None
            return self
        self.db.execute(sql, [record[c] for c in columns])
        self.last_pk = record[keys[0]] if single else tuple(record.get(k) for k in keys)
        return self

    def insert_all(
        self, records: Iterable[dict[str, Any]], pk: Any = None, batch_size: int = 500, ignore: bool = False
    ) -> Table:
        """Insert many rows (all with the first row's columns)."""
        records = list(records)
        if not records:
            return self
        columns = list(records[0])
        sql = (
            f'insert {"or ignore " if ignore else ""}into "{self.name}" '
            f"({', '.join(columns)}) values ({', '.join('?' for _ in columns)})"
        )
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            self.db.executemany(sql, [[r.get(c) for c in columns] for r in batch])
        return self

    def upsert(self, record: dict[str, Any], pk: Any) -> Table:
        """Insert the row, or update the given columns of the row with its key."""
        keys = [pk] if isinstance(pk, str) else list(pk)
        columns = list(record)
        rest = [c for c in columns if c not in keys]
        action = "do update set " + ", ".join(f"{c} = excluded.{c}" for c in rest) if rest else "do nothing"
        self.db.execute(
            f'insert into "{self.name}" ({", ".join(columns)}) values ({", ".join("?" for _ in columns)}) '
            f"on conflict({', '.join(keys)}) {action}",
            [record[c] for c in columns],
        )
        self.last_pk = record[keys[0]] if len(keys) == 1 else tuple(record[k] for k in keys)
        return self

    def rows_where(
        self,
        where: str | None = None,
        where_args: Sequence[Any] | None = None,
        order_by: str | None = None,
        select: str = "*",
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows as dicts, filtered and ordered."""
        sql = f'select {select} from "{self.name}"'
        if where:
            sql += f" where {where}"
        if order_by:
            sql += f" order by {order_by}"
        if limit is not None:
            sql += f" limit {int(limit)}"
        return self.db.query(sql, where_args)

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, in key order."""
        return self.rows_where(order_by=", ".join(self.db.primary_key(self.name)) or None)

    @property
    def count(self) -> int:
        """How many rows the table holds."""
        return int(self.db.execute(f'select count(*) from "{self.name}"').fetchone()[0])

    def exists(self) -> bool:
        """Whether the table exists."""
        return self.name in self.db.table_names()
