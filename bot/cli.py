"""``learnbot``: the admin and learner command line (typer + rich)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.app import App, IndexBusy
from bot.backup import BackupError
from bot.config import Settings, SettingsError
from bot.logs import announce, redact, secret_values, setup_logging
from bot.logs import configure as configure_logging
from knowledge.index import IndexMismatch
from knowledge.loaders import CourseError, CourseOverrides, load_course
from knowledge.models import SearchFilter, location

cli = typer.Typer(
    help="Learnbot: cited answers from course material, in chat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


class CliError(Exception):
    """A user error: printed in red, exit status 2."""


def main() -> None:
    """Console-script entry point."""
    setup_logging()  # one handler that redacts secrets; _app() applies the log settings
    try:
        cli()
    except (BackupError, CliError, CourseError, IndexBusy, IndexMismatch, SettingsError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)


def _app(**overrides: Any) -> App:
    settings = Settings.load(**overrides)
    configure_logging(settings)
    return App(settings)


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


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
    """Load or update a course. Unchanged lessons are skipped; unreadable files are reported and skipped."""
    if language not in (None, "en", "zh"):
        raise CliError(f"--language must be en or zh, not {language!r}")
    course = load_course(path, CourseOverrides(course_id, track, premium, language))
    app = _app()
    with _progress(f"embedding {course.course_id}") as progress:
        report = app.ingestor.ingest(course, progress)
    for problem in report.problems:
        err.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    out.print(
        f"{course.course_id}: {report.lessons} lessons, {report.chunks} chunks; "
        f"{report.lessons_changed} lessons changed, {report.lessons_removed} removed, "
        f"{report.chunks_embedded} chunks embedded ({report.chunks_reused} reused) in {report.seconds:.1f}s",
        highlight=False,
    )


@cli.command()
def courses() -> None:
    """List loaded courses."""
    rows = _app().store.courses()
    table = Table("course", "title", "lessons", "chunks", "language", "track", "premium", "last ingested")
    for c in rows:
        table.add_row(
            c["course_id"],
            c["title"],
            str(c["lesson_count"]),
            str(c["chunk_count"]),
            c["language"],
            c["track"] or "-",
            "yes" if c["premium"] else "no",
            c["ingested_at"],
        )
    out.print(table if rows else "No courses yet. Load one with `learnbot ingest PATH`.")


@cli.command()
def remove(course_id: str = typer.Argument(..., help="The course to remove.")) -> None:
    """Remove a course and its chunks."""
    if not _app().ingestor.remove(course_id):
        raise CliError(f"no course with id {course_id!r}; `learnbot courses` lists them")
    out.print(f"removed {course_id}")


@cli.command()
def reindex(embedder: str = typer.Option("use", help="Embedder to rebuild with: use or minilm.")) -> None:
    """Rebuild every chunk's vector with another embedder (the index records which one built it)."""
    app = _app(embedder=embedder)
    with _progress(f"re-embedding with {embedder}") as progress:
        count = app.reindex(embedder, progress)
    out.print(f"reindexed {count} chunks with {embedder}")


def _questions(question: str | None, from_file: Path | None) -> list[dict[str, Any]]:
    if from_file is None:
        if not question:
            raise CliError("give a question, or --from-file QUESTIONS.jsonl")
        return [{"id": None, "question": question}]
    if not from_file.is_file():
        raise CliError(f"{from_file}: no such file")
    rows = []
    for n, line in enumerate(from_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"id": row.get("id", n), "question": str(row["question"])})
        except (json.JSONDecodeError, KeyError, AttributeError) as exc:
            raise CliError(f"{from_file}:{n}: expected a JSON object with a 'question' ({exc})") from exc
    return rows


def _filter(course: str | None) -> SearchFilter:
    return SearchFilter(course_ids=(course,)) if course else SearchFilter()


@cli.command()
def search(
    question: str = typer.Argument(None, help="What to search for."),
    k: int = typer.Option(5, "-k", help="How many chunks."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    course: str = typer.Option(None, help="Only this course."),
    from_file: Path = typer.Option(
        None, "--from-file", help="JSON lines with id and question; one JSON line out each."
    ),
) -> None:
    """Show the ranked chunks for a question (dense and keyword retrieval, fused)."""
    app = _app()
    for row in _questions(question, from_file):
        hits = app.retriever.retrieve(row["question"], k, _filter(course))
        result = {
            "query": row["question"],
            "results": [
                {
                    "course_id": h.chunk.course_id,
                    "lesson_id": h.chunk.lesson_id,
                    "lesson_title": h.chunk.lesson_title,
                    "heading": h.chunk.heading,
                    "source_path": h.chunk.source_path,
                    "score": round(h.score, 5),
                    "text": h.chunk.text,
                }
                for h in hits
            ],
        }
        if from_file is not None:
            result["id"] = row["id"]
        if as_json or from_file is not None:
            out.print_json(data=result) if from_file is None else print(
                json.dumps(result, ensure_ascii=False)
            )
            continue
        for n, r in enumerate(result["results"], start=1):
            out.print(
                f"[bold]{n}. {escape(location(r['lesson_title'], r['heading']))}[/bold]"
                f"  ({r['score']:.4f})  {escape(r['source_path'])}"
            )
            out.print(r["text"][:300].replace("\n", " "), highlight=False)


@cli.command()
def ask(
    question: str = typer.Argument(None, help="The question."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    course: str = typer.Option(None, help="Only this course."),
    from_file: Path = typer.Option(
        None, "--from-file", help="JSON lines with id and question; one JSON line out each."
    ),
    generator: str = typer.Option(None, help="Back end for this run: local, openai or extractive."),
) -> None:
    """Answer a question from the course material, with numbered citations."""
    app = _app(generator=generator)
    for row in _questions(question, from_file):
        answer = app.answers.answer(row["question"], _filter(course))
        result = answer.to_dict()
        if from_file is not None:
            print(json.dumps({**result, "id": row["id"]}, ensure_ascii=False))
        elif as_json:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            from adapters.console import render

            out.print(render(answer.answer, answer.citations))


@cli.command()
def serve(
    which: str = typer.Argument(..., help="telegram, slack or all"),
) -> None:
    """Run the chat front doors and the scheduled pushes until Ctrl-C or SIGTERM."""
    try:
        app = _app()
        adapters = app.chat_adapters(which)
        asyncio.run(_serve(app, adapters))
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
    started = []
    scheduler = health_server = None
    try:
        health_server = await _health(app, adapters)
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
        # Scheduled pushes (due quizzes, weekly feedback, nudges) go out through these adapters.
        scheduler = app.learning_scheduler({a.platform: a for a in started})
        await scheduler.start()
        announce(f"serving {', '.join(type(a).__name__ for a in adapters)}; Ctrl-C to stop")
        await stopping.wait()
    finally:
        if scheduler is not None:
            await scheduler.stop()
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
    asyncio.run(ConsoleAdapter(app.bot).run())


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
            f"[dim]loaded {course.course_id}: {report.lessons} lessons, {report.chunks} chunks "
            f"({report.chunks_embedded} embedded)[/dim]"
        )
    script = [
        "/courses",
        "How long should a passphrase be?",
        "And why is that better than a short complex password?",
        "What is the best recipe for sourdough bread?",
        "收到可疑邮件应该怎么办？",
        "/enroll security-basics",
        "/next",
    ]
    asyncio.run(ConsoleAdapter(app.bot).play(script))


if __name__ == "__main__":
    # `python -m bot.cli`: run the importable module's main, whose app has the commands that the
    # modules imported at the bottom register (this __main__ copy would miss them).
    from bot.cli import main as _main

    _main()

import bot.cli_jobs  # noqa: E402,F401
import bot.cli_learner  # noqa: E402,F401
import bot.cli_premium  # noqa: E402,F401
import bot.cli_quiz  # noqa: E402,F401
import bot.cli_team  # noqa: E402,F401
