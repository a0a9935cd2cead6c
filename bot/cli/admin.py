"""``learnbot admin add|remove|list``, ``learnbot backup`` and ``learnbot restore``: the operator's tasks."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.app import App
from bot.cli import common
from bot.config import Settings

commands = typer.Typer()
"""Added to the root without a name: ``learnbot backup`` and ``learnbot restore``."""


@commands.command()
def backup(dest: Path = typer.Argument(..., help="A new, empty folder for the backup.")) -> None:
    """Copy the database and the index into DEST, consistently, while the bot keeps serving."""
    from bot.backup import backup as make_backup

    report = make_backup(Settings.load().data_dir, dest)
    common.out.print(
        f"backed up {report.courses} courses, {report.lessons} lessons, {report.learners} learners "
        f"({report.bytes / 1_048_576:.1f} MiB) into {dest} in {report.seconds:.1f}s",
        highlight=False,
    )


@commands.command()
def restore(src: Path = typer.Argument(..., help="A folder made by `learnbot backup`.")) -> None:
    """Bring a backup into the (empty) data dir, then check it: schema, counts, a sample search."""
    from bot.backup import check
    from bot.backup import restore as bring_back

    settings = Settings.load()
    restored = bring_back(src, settings.data_dir)
    problems = check(App(settings))
    if problems:
        raise common.CliError("restored, but the check failed: " + "; ".join(problems))
    common.out.print(
        f"restored {restored['courses']} courses (schema {restored['schema_version']}) into "
        f"{settings.data_dir}; counts and a sample search check out",
        highlight=False,
    )


admin_cli = typer.Typer(help="Manage admins (who may upload courses through chat).", no_args_is_help=True)


@admin_cli.command("add")
def admin_add(who: str = typer.Argument(..., help="PLATFORM:USER_ID, e.g. telegram:12345")) -> None:
    """Make a platform user an admin."""
    common.open_app().store.add_admin(*common.identity(who))
    common.out.print(f"{who} is now an admin")


@admin_cli.command("remove")
def admin_remove(who: str = typer.Argument(..., help="PLATFORM:USER_ID")) -> None:
    """Revoke an admin."""
    if not common.open_app().store.remove_admin(*common.identity(who)):
        raise common.CliError(f"{who} is not an admin")
    common.out.print(f"{who} is no longer an admin")


@admin_cli.command("list")
def admin_list() -> None:
    """List admins added with `learnbot admin add` (LEARNBOT_ADMINS adds more)."""
    for row in common.open_app().store.admins():
        common.out.print(f"{row['platform']}:{row['platform_user_id']}  (since {row['created_at']})")
