"""One database handle for both engines: the SQLite file (embedded default) and PostgreSQL.

The store writes each query once, in the SQL both engines share, with ``?`` placeholders. This module
is the only place that knows which engine runs: it turns ``?`` into psycopg's ``%s``, ``insert or
ignore`` into ``insert ... on conflict do nothing``, and answers the few questions whose SQL differs
(which tables exist, their columns and keys, how a write transaction starts).

Write transactions are serialised on both engines: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by a
transaction-scoped advisory lock taken right after ``BEGIN``. The store's read-then-write steps (a
learner created on first contact, a payment and the period it buys) were written for SQLite's one
writer at a time; several replicas on PostgreSQL keep exactly that guarantee, while reads stay
concurrent.

Example:
    >>> db = connect("postgresql://bot@db.internal/learnbot")
    >>> db.execute("select count(*) from learners").fetchone()
    (0,)
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.table import Table

WRITE_LOCK = 0x4C42_5354  # "LBST": the advisory lock every PostgreSQL write transaction holds
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class DatabaseUnavailable(ValueError):
    """``LEARNBOT_DATABASE_URL`` cannot be used; the message is one line without the password.

    A ``ValueError`` like every unusable setting, so the CLI prints it as one line and exits 2.
    """


def is_postgres(location: str | Path) -> bool:
    """Whether ``location`` is a PostgreSQL URL (anything else is a SQLite file path)."""
    return str(location).startswith(POSTGRES_SCHEMES)


def describe(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL (user and password left out), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}/{unquote(parts.path.lstrip('/')) or '(default database)'}"


def redacted_url(url: str) -> str:
    """The URL with its password replaced by ``[redacted]``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":[redacted]@", 1)
    return parts._replace(netloc=netloc).geturl()


def sqlalchemy_url(location: str | Path) -> str:
    """The SQLAlchemy URL of the same database (for the APScheduler job store)."""
    if not is_postgres(location):
        return f"sqlite:///{location}"
    url = str(location)
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def connect(location: str | Path) -> Database:
    """Open the database at ``location``: a PostgreSQL URL or a SQLite file path (or ``:memory:``).

    Raises:
        DatabaseUnavailable: PostgreSQL cannot be reached or refuses the login.
    """
    if is_postgres(location):
        return _connect_postgres(str(location))
    return _connect_sqlite(location)


def _connect_sqlite(path: str | Path) -> Database:
    memory = str(path) == ":memory:"
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    db = Database(conn, "sqlite")
    if not memory:
        conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    # Deleted rows (an erased learner's questions) are overwritten with zeros, not left in free
    # space; per connection, so every process's Store sets it.
    conn.execute("PRAGMA secure_delete = ON")
    return db


def _connect_postgres(url: str) -> Database:
    import psycopg
    from psycopg.types.numeric import FloatLoader

    plain = "postgresql://" + url.split("://", 1)[1]
    try:
        conn = psycopg.connect(plain, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        password = urlsplit(url).password
        if password:
            reason = reason.replace(password, "[redacted]")
        raise DatabaseUnavailable(f"cannot use PostgreSQL at {describe(url)}: {reason}") from None
    # sum() and avg() answer numeric; the store's callers expect plain numbers, as from SQLite.
    conn.adapters.register_loader("numeric", FloatLoader)
    return Database(conn, "postgresql")


@lru_cache(maxsize=2048)
def _to_postgres(sql: str) -> str:
    """Translate the shared SQL dialect's two SQLite spellings into PostgreSQL's."""
    out: list[str] = []
    ignore = False
    for index, piece in enumerate(re.split(r"('(?:[^']|'')*')", sql)):
        if index % 2:  # a string literal: kept as it is
            out.append(piece.replace("%", "%%"))
            continue
        piece = piece.replace("%", "%%").replace("?", "%s")
        if re.search(r"\binsert\s+or\s+ignore\s+into\b", piece, re.IGNORECASE):
            ignore = True
            piece = re.sub(r"\binsert\s+or\s+ignore\s+into\b", "insert into", piece, flags=re.IGNORECASE)
        out.append(piece)
    text = "".join(out)
    return text + " on conflict do nothing" if ignore else text


class Database:
    """A connection to SQLite or PostgreSQL with one SQL dialect; ``db["name"]`` gives a table's row helpers.

    Args:
        conn: A ``sqlite3`` connection in autocommit mode, or a psycopg connection with autocommit.
        dialect: ``"sqlite"`` or ``"postgresql"``.
    """

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.lock = threading.RLock()
        self._keys: dict[str, list[str]] = {}

    @property
    def postgres(self) -> bool:
        """Whether this is PostgreSQL."""
        return self.dialect == "postgresql"

    # -- statements ------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement with ``?`` placeholders; returns a DB-API cursor (rows are tuples)."""
        if self.postgres:
            return self.conn.execute(_to_postgres(sql), list(params or ()))
        return self.conn.execute(sql, list(params or ()))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        rows = [list(row) for row in rows]
        if not rows:
            return
        if self.postgres:
            with self.conn.cursor() as cursor:
                cursor.executemany(_to_postgres(sql), rows)
        else:
            self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        """Rows of a select as dicts."""
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor.fetchall():
            yield dict(zip(names, row, strict=True))

    def __getitem__(self, name: str) -> Table:
        """Row helpers for one table (:class:`bot.table.Table`)."""
        return Table(self, name)

    # -- transactions ----------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection."""
        if self.postgres:
            from psycopg.pq import TransactionStatus

            return self.conn.info.transaction_status != TransactionStatus.IDLE
        return bool(self.conn.in_transaction)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write unit; writers are serialised (see the module docstring)."""
        with self.lock:
            if self.in_transaction:
                yield
                return
            if self.postgres:
                self.conn.execute("BEGIN")
                self.conn.execute("select pg_advisory_xact_lock(%s)", [WRITE_LOCK])
            else:
                self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def savepoint(self, name: str = "step") -> Iterator[None]:
        """A step inside a transaction that can fail alone (its changes undone, the rest kept)."""
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types a unique or foreign key violation raises on this engine."""
        if self.postgres:
            import psycopg

            return (psycopg.errors.IntegrityError,)
        return (sqlite3.IntegrityError,)

    # -- schema questions ------------------------------------------------------------------

    def table_names(self) -> list[str]:
        """The tables, sorted (SQLite's own bookkeeping tables left out)."""
        if self.postgres:
            sql = (
                "select table_name from information_schema.tables "
                "where table_schema = current_schema() and table_type = 'BASE TABLE'"
            )
        else:
            sql = "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        return sorted(row[0] for row in self.execute(sql).fetchall())

    def columns(self, table: str) -> list[tuple[str, str, bool]]:
        """``(name, declared type, not null)`` of each column, in order."""
        if self.postgres:
            rows = self.execute(
                "select column_name, data_type, is_nullable = 'NO' from information_schema.columns "
                "where table_schema = current_schema() and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            return [(name, kind.upper(), bool(nn)) for name, kind, nn in rows]
        rows = self.execute(f'pragma table_info("{table}")').fetchall()
        return [(row[1], (row[2] or "TEXT").upper(), bool(row[3])) for row in rows]

    def primary_key(self, table: str) -> list[str]:
        """The primary key's columns, in key order."""
        if table not in self._keys:
            if self.postgres:
                rows = self.execute(
                    "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
                    "and a.attnum = any(i.indkey) where i.indrelid = cast(? as regclass) "
                    "and i.indisprimary order by array_position(i.indkey, a.attnum)",
                    [table],
                ).fetchall()
                self._keys[table] = [row[0] for row in rows]
            else:
                rows = self.execute(f'pragma table_info("{table}")').fetchall()
                self._keys[table] = [row[1] for row in sorted(rows, key=lambda r: r[5]) if row[5]]
        return self._keys[table]

    def foreign_keys(self, table: str) -> list[tuple[str, str]]:
        """``(column, referenced table)`` of each foreign key."""
        if self.postgres:
            rows = self.execute(
                "select kcu.column_name, ccu.table_name from information_schema.table_constraints tc "
                "join information_schema.key_column_usage kcu on kcu.constraint_name = tc.constraint_name "
                "and kcu.table_schema = tc.table_schema "
                "join information_schema.constraint_column_usage ccu "
                "on ccu.constraint_name = tc.constraint_name and ccu.table_schema = tc.table_schema "
                "where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = current_schema() "
                "and tc.table_name = ?",
                [table],
            ).fetchall()
            return [(column, other) for column, other in rows]
        return [(row[3], row[2]) for row in self.execute(f'pragma foreign_key_list("{table}")').fetchall()]

    def defer_foreign_keys(self) -> None:
        """Check foreign keys at commit (SQLite); PostgreSQL's store deletes children first anyway."""
        if not self.postgres:
            self.execute("pragma defer_foreign_keys = on")

    def reset_sequences(self) -> None:
        """Move PostgreSQL's id sequences past rows written with explicit ids (a copy, a bulk load)."""
        if not self.postgres:
            return
        for table in self.table_names():
            if self.primary_key(table) != ["id"]:
                continue
            seq = self.execute("select pg_get_serial_sequence(?, 'id')", [table]).fetchone()[0]
            if seq:
                self.execute(
                    f'select setval(?, coalesce((select max(id) from "{table}"), 0) + 1, false)', [seq]
                )

    def checkpoint(self) -> bool:
        """Empty SQLite's write-ahead log into the file; ``False`` if a reader held it (PostgreSQL: no-op)."""
        if self.postgres:
            return True
        busy, _, _ = self.execute("pragma wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
