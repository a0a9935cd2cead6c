"""``learnbot jobs list|run``: the scheduled jobs, once, from the terminal (cron, catching up, tests).

``learnbot jobs run quizzes`` does what the 15-minute job does inside ``learnbot serve``: plan,
record and deliver due quiz pushes through the platform's API, exactly once per push (see
:mod:`bot.jobs.pushes`). Run it while ``learnbot serve`` is stopped, or with a Chroma server (the embedded
index belongs to one process).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer

from bot.cli import common
from bot.jobs.learning import nudge_inactive, progress_feedback, prune_old_rows, push_due_quizzes

jobs_cli = typer.Typer(help="Run a scheduled job once.", no_args_is_help=True)
JOBS = {
    "quizzes": (push_due_quizzes, "due quiz pushes"),
    "feedback": (progress_feedback, "weekly progress feedback"),
    "nudges": (nudge_inactive, "nudges after a silence"),
    "prune": (prune_old_rows, "questions past their retention and old delivery ids"),
}


@jobs_cli.command("list")
def jobs_list() -> None:
    """The jobs `learnbot jobs run` knows."""
    for name, (_, what) in JOBS.items():
        common.out.print(f"{name:10} {what}", highlight=False)


@jobs_cli.command("run")
def jobs_run(
    job: str = typer.Argument(..., help="quizzes, feedback, nudges or prune."),
    platform: str = typer.Option("telegram", help="Where pushes go: telegram, slack or all."),
    now: str = typer.Option(None, help="Run as if it were this UTC time (ISO 8601); default: now."),
) -> None:
    """Run one job once and say how many pushes it sent (or rows it pruned)."""
    if job not in JOBS:
        raise common.CliError(f"no job {job!r}; choose one of: {', '.join(JOBS)}")
    try:
        moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError as exc:
        raise common.CliError(f"--now: {exc}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    app = common.open_app()
    adapters = [] if job == "prune" else app.chat_adapters(platform)
    count = asyncio.run(_run(app, adapters, job, moment))
    common.out.print(f"{job}: {count} {'rows pruned' if job == 'prune' else 'sent'}", highlight=False)


async def _run(app, adapters: list, job: str, now: datetime) -> int:  # noqa: ANN001 - the App
    # Telegram's Bot object must be initialised to send; polling is not started (it would take the
    # updates a running server should get).
    ptb = [a.application for a in adapters if hasattr(a, "application")]
    for application in ptb:
        await application.initialize()
    try:
        return await JOBS[job][0](app.job_deps({a.platform: a for a in adapters}), now)
    finally:
        for application in ptb:
            await application.shutdown()
