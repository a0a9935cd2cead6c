"""``learnbot migrate-to URL``: move the data dir's SQLite state into PostgreSQL, counts checked.

Stop ``learnbot serve`` first (a copy taken while learners write would miss their last rows); then
set ``LEARNBOT_DATABASE_URL`` to the same URL and start the bot (or several replicas) again. The
SQLite file is left as it was, so going back is unsetting the variable.
"""

from __future__ import annotations

import time

import typer

from bot.cli import common
from bot.cli.common import CliError, cells, out
from bot.database import describe, is_postgres
from bot.store import Store
from bot.store.copy import CopyError, copy_store

commands = typer.Typer()
"""Added to the root without a name: its command is top-level."""


@commands.command("migrate-to")
def migrate_to(
    url: str = typer.Argument(..., help="postgresql://user:password@host/database (an empty database)."),
) -> None:
    """Copy the SQLite state of the data dir into PostgreSQL and check every table's row count."""
    from rich.table import Table

    if not is_postgres(url):
        raise CliError("migrate-to needs a postgresql:// URL")
    app = common.open_app()
    path = app.settings.database_path
    if not path.exists():
        raise CliError(f"{path}: no SQLite database in the data dir, nothing to copy")
    started = time.perf_counter()
    source = Store(path)
    target = Store(url)
    try:
        report = copy_store(source, target)
    except CopyError as exc:
        raise CliError(str(exc)) from None
    finally:
        source.close()
        target.close()
    table = Table("table", "SQLite rows", "PostgreSQL rows")
    for name, count in report.source.items():
        table.add_row(*cells(name, count, report.target[name]))
    out.print(table)
    out.print(
        f"copied {report.rows} rows into {describe(url)} in {time.perf_counter() - started:.1f} s; "
        "every table's count matches. Set LEARNBOT_DATABASE_URL to this URL and start the bot."
    )
