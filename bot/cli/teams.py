"""``learnbot team ...``, ``learnbot manager add``, ``learnbot digest`` and ``learnbot tags``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from bot.cli import common

commands = typer.Typer()
"""Added to the root without a name: its commands are top-level."""

team_cli = typer.Typer(help="Teams of learners, for managers' weekly digests.", no_args_is_help=True)
member_cli = typer.Typer(help="Who is in a team.", no_args_is_help=True)
manager_cli = typer.Typer(help="Team managers (they get the team's weekly digest).", no_args_is_help=True)
team_cli.add_typer(member_cli, name="member")


def _team(store, team_id: str) -> dict:  # noqa: ANN001 - the Store
    team = store.team(team_id)
    if team is None:
        raise common.CliError(f"there is no team {team_id!r}; create it with `learnbot team add {team_id}`")
    return team


@team_cli.command("add")
def team_add(
    team_id: str = typer.Argument(..., help="A short id, e.g. sales-emea"),
    name: str = typer.Option("", help="A display name (default: the id)"),
) -> None:
    """Create a team."""
    if not team_id.strip():
        raise common.CliError("a team needs an id")
    if not common.open_app().store.create_team(team_id.strip(), name.strip()):
        raise common.CliError(f"team {team_id!r} exists already")
    common.out.print(f"team {team_id} created")


@team_cli.command("list")
def team_list() -> None:
    """Teams with their member and manager counts."""
    table = Table("team", "name", "members", "managers")
    for row in common.open_app().store.list_teams():
        table.add_row(row["team_id"], row["name"], str(row["members"]), str(row["managers"]))
    common.out.print(table)


@member_cli.command("add")
def member_add(
    team_id: str = typer.Argument(..., help="The team"),
    who: str = typer.Argument(..., help="The learner: a learner id, or PLATFORM:USER_ID (created if new)"),
) -> None:
    """Put a learner in a team."""
    store = common.open_app().store
    _team(store, team_id)
    learner_id = common.learner(store, who, create=True)
    if not store.add_team_member(team_id, learner_id, datetime.now(UTC)):
        raise common.CliError(f"{who} is in team {team_id} already")
    common.out.print(f"{who} (learner {learner_id}) added to team {team_id}")


@manager_cli.command("add")
def manager_add(
    team_id: str = typer.Argument(..., help="The team"),
    who: str = typer.Argument(..., help="slack:U0123 or telegram:12345"),
) -> None:
    """Make a Slack or Telegram user a manager of a team: they get its weekly digest, and /digest."""
    store = common.open_app().store
    _team(store, team_id)
    platform, user_id = common.identity(who, ("slack", "telegram"))
    if not store.add_team_manager(team_id, platform, user_id, datetime.now(UTC)):
        raise common.CliError(f"{who} manages team {team_id} already")
    common.out.print(f"{who} now manages team {team_id}")


@commands.command()
def digest(
    team: str = typer.Option(..., "--team", help="The team"),
    format: str = typer.Option("md", "--format", help="md (the digest) or csv (one row per member)"),  # noqa: A002
    output: Path | None = typer.Option(None, "--out", help="Write to this file instead of printing"),
    chart: Path | None = typer.Option(None, "--chart", help="Also write the PNG chart here"),
) -> None:
    """A team's weekly digest (the last 7 days), as Markdown or CSV."""
    from recommender.digest import build_digest

    if format not in ("md", "csv"):
        raise common.CliError(f"--format is md or csv, not {format!r}")
    store = common.open_app().store
    _team(store, team)
    report = build_digest(store, team, datetime.now(UTC))
    text = report.markdown() if format == "md" else report.csv()
    if chart is not None:
        chart.write_bytes(report.chart())
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        common.out.print(f"digest of {team} written to {output}")


@commands.command()
def tags(course: str = typer.Argument("", help="One course id (default: all)")) -> None:
    """Compute the lessons' content tags (keywords, difficulty) where missing, and list them."""
    app = common.open_app()
    if course and app.store.course(course) is None:
        raise common.CliError(f"there is no course {course!r}")
    content = app.recommender.tags
    computed = content.ensure(course or None)
    table = Table("course", "lesson", "keywords", "difficulty")
    for (course_id, lesson_id), t in content.tags(course or None).items():
        table.add_row(course_id, lesson_id, ", ".join(t.keywords), f"{t.difficulty:.2f} ({t.level})")
    common.out.print(table)
    common.out.print(f"{computed} lessons tagged now")
