"""``learnbot``: the admin and learner command line (typer + rich).

This root builds the ``learnbot`` group and adds each sub-app; the sub-command modules hold the
commands, share :mod:`bot.cli.common` and never import this root.
"""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from bot.app import IndexBusy
from bot.backup import BackupError
from bot.cli import admin, ask, common, courses, jobs, learners, migrate, premium, quiz, serve, teams
from bot.config import SettingsError
from bot.logs import redact, secret_values, setup_logging
from knowledge.index import IndexMismatch
from knowledge.loaders import CourseError

cli = typer.Typer(
    help="Learnbot: cited answers from course material, in chat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Top-level commands, in the order `learnbot --help` lists them, then the groups.
for top_level in (courses, serve, admin, ask, premium, teams, migrate):
    cli.add_typer(top_level.commands)
cli.add_typer(admin.admin_cli, name="admin")
cli.add_typer(jobs.jobs_cli, name="jobs")
cli.add_typer(learners.learner_cli, name="learner")
cli.add_typer(premium.track_cli, name="track")
cli.add_typer(premium.buyer_cli, name="buyer")
cli.add_typer(quiz.quiz_cli, name="quiz", no_args_is_help=True)
cli.add_typer(teams.team_cli, name="team")
cli.add_typer(teams.manager_cli, name="manager")

CliError = common.CliError


def main() -> None:
    """Console-script entry point (``learnbot``, ``python -m bot.cli``)."""
    setup_logging()  # one handler that redacts secrets; open_app() applies the log settings
    try:
        cli()
    except (BackupError, CliError, CourseError, IndexBusy, IndexMismatch, SettingsError, ValueError) as exc:
        # A message may quote a setting's value (a URL with a password, a token): redacted like the logs.
        common.err.print(
            Text.assemble(("error:", "red"), f" {redact(str(exc), secret_values())}"), highlight=False
        )
        sys.exit(2)
