"""``learnbot``: the admin and learner command line (typer + rich)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot.app import App, IndexBusy
from bot.backup import BackupError
from bot.config import Settings, SettingsError
from bot.ingest_service import handed_over
from bot.ingest_service import start_for as start_ingest_service
from bot.logs import announce, redact, secret_values, setup_logging
from bot.logs import configure as configure_logging
from knowledge.index import IndexMismatch
from knowledge.loaders import CourseError, CourseOverrides, load_course

cli = typer.Typer(
    help="Learnbot: cited answers from course material, in chat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Literal by default: course text, ids and file names often hold "[/docs]" or ":x:", which rich would
# read as markup (and crash on) or turn into emoji. Styled output says so with Text or markup=True.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160, markup=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)


class CliError(Exception):
    """A user error: printed in red, exit status 2."""


def main() -> None:
    """Console-script entry point."""
    setup_logging()  # one handler that redacts secrets; _app() applies the log settings
    try:
        cli()
    except (BackupError, CliError, CourseError, IndexBusy, IndexMismatch, SettingsError, ValueError) as exc:
        # A message may quote a setting's value (a URL with a password, a token): redacted like the logs.
        err.print(Text.assemble(("error:", "red"), f" {redact(str(exc), secret_values())}"), highlight=False)
        sys.exit(2)


def notice(label: str, text: str) -> None:
    """A line for the operator on stderr (``skipped ...``): highlighted on a terminal, otherwise a log line.

    Off a terminal it goes through the log set-up, so ``LEARNBOT_LOG_FORMAT=json`` makes it a JSON line.
    """
    if err.is_terminal:
        err.print(Text.assemble((label, "yellow"), f" {text}"), highlight=False)
    else:
        announce(f"{label} {text}", logging.WARNING)


def cells(*values: object) -> list[Text]:
    """Table cells printed as they are, whatever the console's settings (course text is not markup)."""
    return [Text(str(value)) for value in values]


def _chat_console() -> Console:
    """The console chat's: markup for its own styling (it escapes course text), no emoji (":x:" stays)."""
    return Console(emoji=False)


def _app(**overrides: Any) -> App:
    settings = Settings.load(**overrides)
    configure_logging(settings)
    return App(settings)


class _Progress:
    """Progress of slow work on stderr: a bar on a terminal, plain lines otherwise (logs, cron, CI).

    Called as ``progress(done, total)``; a plain line goes out at the start, at every tenth, at least
    every half minute (a 20 MB document takes minutes a tenth) and at the end: a long run shows it is
    alive without flooding a log.
    """

    EVERY_SECONDS = 30.0

    def __init__(self, description: str, bar: Progress | None) -> None:
        self.description = description
        self.bar = bar
        self.task = bar.add_task(description, total=None) if bar is not None else None
        self._tenth = -1
        self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
            return
        tenth = done * 10 // total if total else 10
        now = time.monotonic()
        if total and (tenth > self._tenth or now - self._last >= self.EVERY_SECONDS):
            self._tenth, self._last = tenth, now
            announce(f"{self.description}: {done}/{total}")

    def lesson(self, n: int, total: int, lesson_id: str, chunks: int) -> None:
        """A lesson was read and chunked: one line each (before the embedding starts)."""
        name = lesson_id or "pages outside the lessons"
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.description} (lesson {n}/{total})")
        else:
            announce(f"lesson {n}/{total} {name}: {chunks} chunks")


@contextmanager
def _progress(description: str) -> Iterator[_Progress]:
    if not err.is_terminal:
        yield _Progress(description, None)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        yield _Progress(description, bar)


@cli.command()
def ingest(
    path: Path = typer.Argument(..., help="A course folder or a single document (md, pdf, html, docx, txt)."),
    course_id: str = typer.Option(
        None, "--course-id", help="Course id (default: course.toml's id or the folder name)."
    ),
    track: str = typer.Option(None, help="Track the course belongs to."),
    premium: bool = typer.Option(None, "--premium/--free", help="Mark the course premium (or free)."),
    language: str = typer.Option(None, help="Course language, en or zh (default: course.toml or detected)."),
) -> None:
    """Load or update a course. Unchanged lessons are skipped; unreadable files are reported and skipped.

    Exit status: 0 when everything was loaded, 1 when something was skipped (listed on stderr), 2 on an
    error (nothing changed).
    """
    if language not in (None, "en", "zh"):
        raise CliError(f"--language must be en or zh, not {language!r}")
    args = {"path": str(path.resolve()), "course_id": course_id, "track": track, "premium": premium}
    if (status := handed_over("ingest", **args, language=language)) is not None:  # a serve owns the index
        raise typer.Exit(status)
    cap = Settings.load().max_document_mb * 1_000_000 or None
    course = load_course(path, CourseOverrides(course_id, track, premium, language), max_document_bytes=cap)
    app = _app()
    with _progress(f"embedding {course.course_id}") as progress:
        report = app.ingestor.ingest(course, progress, on_lesson=progress.lesson)
    for problem in report.problems:
        notice("skipped", str(problem))
    out.print(
        f"{course.course_id}: {report.lessons} lessons, {report.chunks} chunks; "
        f"{report.lessons_changed} lessons changed, {report.lessons_removed} removed, "
        f"{report.chunks_embedded} chunks embedded ({report.chunks_reused} reused) in {report.seconds:.1f}s",
        highlight=False,
    )
    if report.orphans_removed:
        out.print(f"removed {report.orphans_removed} leftover records of an ingestion that was stopped")
    if report.problems:  # scripts and cron see that the course is incomplete
        notice(f"{len(report.problems)} skipped:", "the rest is loaded (exit status 1)")
        raise typer.Exit(1)


@cli.command()
def courses() -> None:
    """List loaded courses."""
    rows = _app().store.courses()
    table = Table("course", "title", "lessons", "chunks", "language", "track", "premium", "last ingested")
    for c in rows:
        table.add_row(
            *cells(
                c["course_id"],
                c["title"],
                c["lesson_count"],
                c["chunk_count"],
                c["language"],
                c["track"] or "-",
                "yes" if c["premium"] else "no",
                c["ingested_at"],
            )
        )
    out.print(table if rows else "No courses yet. Load one with `learnbot ingest PATH`.")


@cli.command()
def remove(course_id: str = typer.Argument(..., help="The course to remove.")) -> None:
    """Remove a course and its chunks."""
    if (status := handed_over("remove", course_id=course_id)) is not None:  # a serve owns the index
        raise typer.Exit(status)
    app = _app()
    leftover = sum(1 for _ in app.index.records(course_id))
    if not app.ingestor.remove(course_id):
        if leftover:  # a first ingestion of it was stopped before it finished
            out.print(f"no course {course_id!r} in the catalogue; removed {leftover} leftover records")
            return
        raise CliError(f"no course with id {course_id!r}; `learnbot courses` lists them")
    out.print(f"removed {course_id}")


@cli.command()
def gc() -> None:
    """Delete index records left by an ingestion that was stopped before it finished."""
    app = _app()
    stopped = app.ingestor.collect_stopped()
    stale = app.ingestor.collect_garbage()
    out.print(f"removed {stopped + stale} leftover records")


@cli.command()
def reindex(
    embedder: str = typer.Option("use+minilm", help="Embedder to rebuild with: use+minilm, use or minilm."),
) -> None:
    """Rebuild every chunk's vector with another embedder (the index records which one built it)."""
    if (status := handed_over("reindex", embedder=embedder)) is not None:  # a serve owns the index
        raise typer.Exit(status)
    app = _app(embedder=embedder)
    with _progress(f"re-embedding with {embedder}") as progress:
        count = app.reindex(embedder, progress)
    out.print(f"reindexed {count} chunks with {embedder}")


@cli.command()
def serve(
    which: str = typer.Argument(..., help="telegram, slack or all"),
) -> None:
    """Run the chat front doors and the scheduled pushes until Ctrl-C or SIGTERM."""
    try:
        app = _app()
        adapters = app.chat_adapters(which)
        asyncio.run(_serve(app, adapters))
    except KeyboardInterrupt:  # Ctrl-C while the app loads, before serve listens for it: no traceback
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - a start-up failure is one redacted line, never a traceback
        # Platform errors quote what they were given (python-telegram-bot's InvalidToken quotes the
        # token), so the message goes through the same redaction as every log record; in JSON log
        # mode it is a JSON line like every other.
        clear = isinstance(exc, (SettingsError, ValueError, ConnectionError))  # messages meant for people
        reason = str(exc) if clear else f"{type(exc).__name__}: {exc}"
        announce(f"error: could not serve: {redact(reason, secret_values())}", logging.ERROR)
        raise typer.Exit(2) from None


async def _serve(app: App, adapters: list) -> None:
    import signal

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    app.live_records.refresh()  # load the index before the first learner waits for it
    await asyncio.to_thread(app.prepare_generator, announce)  # the model too: never in a first question
    started = []
    scheduler = health_server = ingest_service = None

    async def start(adapter: Any) -> bool:
        # Start-up may retry for a while (an unreachable Bot API, Slack's Socket Mode reconnecting):
        # Ctrl-C or SIGTERM then ends it instead of going unheard until start-up returns.
        starting = asyncio.ensure_future(adapter.start())
        waiting = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if starting.done():
            if starting.exception() is not None:
                with contextlib.suppress(Exception):
                    await adapter.stop()  # release what the failed start opened (HTTP sessions)
            starting.result()  # raises the start-up error
            return True
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        with contextlib.suppress(Exception):
            await adapter.stop()  # whatever the half-done start opened
        return False

    try:
        health_server = await _health(app, adapters)
        ingest_service = await start_ingest_service(app)  # `learnbot ingest` beside serve hands jobs here
        for adapter in adapters:
            if not await start(adapter):
                return
            started.append(adapter)
        # Scheduled pushes (due quizzes, weekly feedback, nudges) go out through these adapters.
        scheduler = app.learning_scheduler({a.platform: a for a in started})
        await scheduler.start()
        announce(f"serving {', '.join(type(a).__name__ for a in adapters)}; Ctrl-C to stop")
        await stopping.wait()
    finally:
        if scheduler is not None:
            await scheduler.stop()
        if ingest_service is not None:
            await ingest_service.stop()
        for adapter in reversed(started):
            await adapter.stop()
        if health_server is not None:
            await health_server.cleanup()


async def _health(app: App, adapters: list) -> Any:
    """/healthz and /metrics on the adapters' HTTP servers, and on LEARNBOT_HEALTH_PORT if set."""
    from bot.health import Health

    health = Health.for_app(app)
    for adapter in adapters:
        adapter.health = health
    if app.settings.health_port:
        return await health.serve(app.settings.listen_host, app.settings.health_port)
    return None


@cli.command()
def chat(
    generator: str = typer.Option(None, help="Back end: local, openai or extractive."),
) -> None:
    """Chat in the terminal (the console adapter)."""
    from adapters.console import ConsoleAdapter

    app = _app(generator=generator)
    asyncio.run(ConsoleAdapter(app.bot, _chat_console()).run())


@cli.command()
def backup(dest: Path = typer.Argument(..., help="A new, empty folder for the backup.")) -> None:
    """Copy the database and the index into DEST, consistently, while the bot keeps serving."""
    from bot.backup import backup as make_backup

    report = make_backup(Settings.load().data_dir, dest)
    out.print(
        f"backed up {report.courses} courses, {report.lessons} lessons, {report.learners} learners "
        f"({report.bytes / 1_048_576:.1f} MiB) into {dest} in {report.seconds:.1f}s",
        highlight=False,
    )


@cli.command()
def restore(src: Path = typer.Argument(..., help="A folder made by `learnbot backup`.")) -> None:
    """Bring a backup into the (empty) data dir, then check it: schema, counts, a sample search."""
    from bot.backup import check
    from bot.backup import restore as bring_back

    settings = Settings.load()
    restored = bring_back(src, settings.data_dir)
    problems = check(App(settings))
    if problems:
        raise CliError("restored, but the check failed: " + "; ".join(problems))
    out.print(
        f"restored {restored['courses']} courses (schema {restored['schema_version']}) into "
        f"{settings.data_dir}; counts and a sample search check out",
        highlight=False,
    )


admin_cli = typer.Typer(help="Manage admins (who may upload courses through chat).", no_args_is_help=True)
cli.add_typer(admin_cli, name="admin")


def _identity(who: str, platforms: tuple[str, ...] = ("telegram", "slack", "console")) -> tuple[str, str]:
    """``PLATFORM:USER_ID`` split into its two parts, or a clear error naming the accepted platforms."""
    platform, _, user_id = who.strip().partition(":")
    if platform not in platforms or not user_id.strip():
        names = " or ".join(platforms)
        raise CliError(f"expected PLATFORM:USER_ID ({names}) such as telegram:12345, not {who!r}")
    return platform, user_id.strip()


def _learner(store: Any, who: str, *, create: bool = False) -> int:
    """The learner an admin means by ``12`` (a learner id) or ``PLATFORM:USER_ID`` (one of their identities).

    With ``create``, an identity seen for the first time becomes a new learner; otherwise an unknown
    id or identity is a clear error.
    """
    if create and not who.strip().isdigit():
        return store.learner_for(*_identity(who))
    learner_id = store.resolve_learner(who)
    if learner_id is None:
        raise CliError(f"no learner {who!r}: give a learner id or PLATFORM:USER_ID such as telegram:12345")
    return learner_id


@admin_cli.command("add")
def admin_add(who: str = typer.Argument(..., help="PLATFORM:USER_ID, e.g. telegram:12345")) -> None:
    """Make a platform user an admin."""
    _app().store.add_admin(*_identity(who))
    out.print(f"{who} is now an admin")


@admin_cli.command("remove")
def admin_remove(who: str = typer.Argument(..., help="PLATFORM:USER_ID")) -> None:
    """Revoke an admin."""
    if not _app().store.remove_admin(*_identity(who)):
        raise CliError(f"{who} is not an admin")
    out.print(f"{who} is no longer an admin")


@admin_cli.command("list")
def admin_list() -> None:
    """List admins added with `learnbot admin add` (LEARNBOT_ADMINS adds more)."""
    for row in _app().store.admins():
        out.print(f"{row['platform']}:{row['platform_user_id']}  (since {row['created_at']})")


@cli.command()
def demo(
    generator: str = typer.Option(None, help="Back end: local (default), openai or extractive."),
) -> None:
    """Load the bundled sample courses and run a short scripted conversation."""
    from adapters.console import ConsoleAdapter

    app = _app(generator=generator)
    root = Path(__file__).parent / "sample_courses"
    for folder in sorted(p for p in root.iterdir() if (p / "course.toml").is_file()):
        course = load_course(folder)
        with _progress(f"loading {course.course_id}") as progress:
            report = app.ingestor.ingest(course, progress)
        out.print(
            f"loaded {course.course_id}: {report.lessons} lessons, {report.chunks} chunks "
            f"({report.chunks_embedded} embedded)",
            style="dim",
        )
    app.prepare_generator(lambda line: out.print(line, style="dim"))
    script = [
        "/courses",
        "How long should a passphrase be?",
        "And why is that better than a short complex password?",
        "What is the best recipe for sourdough bread?",
        "收到可疑邮件应该怎么办？",
        "/enroll security-basics",
        "/next",
    ]
    asyncio.run(ConsoleAdapter(app.bot, _chat_console()).play(script))


if __name__ == "__main__":
    # `python -m bot.cli`: run the importable module's main, whose app has the commands that the
    # modules imported at the bottom register (this __main__ copy would miss them).
    from bot.cli import main as _main

    _main()

import bot.cli_ask  # noqa: E402,F401
import bot.cli_jobs  # noqa: E402,F401
import bot.cli_learner  # noqa: E402,F401
import bot.cli_migrate  # noqa: E402,F401
import bot.cli_premium  # noqa: E402,F401
import bot.cli_quiz  # noqa: E402,F401
import bot.cli_team  # noqa: E402,F401
