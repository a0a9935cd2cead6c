"""``learnbot ingest|courses|remove|gc|reindex``: the course catalogue and its index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bot.cli import common
from bot.config import Settings
from knowledge.loaders import CourseOverrides, load_course

commands = typer.Typer()
"""Added to the root without a name: its commands are top-level (``learnbot ingest``)."""


@commands.command()
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
        raise common.CliError(f"--language must be en or zh, not {language!r}")
    args = {"path": str(path.resolve()), "course_id": course_id, "track": track, "premium": premium}
    if (
        status := common.handed_over("ingest", **args, language=language)
    ) is not None:  # a serve owns the index
        raise typer.Exit(status)
    cap = Settings.load().max_document_mb * 1_000_000 or None
    course = load_course(path, CourseOverrides(course_id, track, premium, language), max_document_bytes=cap)
    app = common.open_app()
    with common.progress(f"embedding {course.course_id}") as progress:
        report = app.ingestor.ingest(course, progress, on_lesson=progress.lesson)
    for problem in report.problems:
        common.notice("skipped", str(problem))
    common.out.print(
        f"{course.course_id}: {report.lessons} lessons, {report.chunks} chunks; "
        f"{report.lessons_changed} lessons changed, {report.lessons_removed} removed, "
        f"{report.chunks_embedded} chunks embedded ({report.chunks_reused} reused) in {report.seconds:.1f}s",
        highlight=False,
    )
    if report.orphans_removed:
        common.out.print(
            f"removed {report.orphans_removed} leftover records of an ingestion that was stopped"
        )
    if report.problems:  # scripts and cron see that the course is incomplete
        common.notice(f"{len(report.problems)} skipped:", "the rest is loaded (exit status 1)")
        raise typer.Exit(1)


@commands.command()
def courses() -> None:
    """List loaded courses."""
    rows = common.open_app().store.courses()
    table = Table("course", "title", "lessons", "chunks", "language", "track", "premium", "last ingested")
    for c in rows:
        table.add_row(
            *common.cells(
                c.course_id,
                c.title,
                c.lesson_count,
                c.chunk_count,
                c.language,
                c.track or "-",
                "yes" if c.premium else "no",
                c.ingested_at,
            )
        )
    common.out.print(table if rows else "No courses yet. Load one with `learnbot ingest PATH`.")


@commands.command()
def remove(course_id: str = typer.Argument(..., help="The course to remove.")) -> None:
    """Remove a course and its chunks."""
    if (status := common.handed_over("remove", course_id=course_id)) is not None:  # a serve owns the index
        raise typer.Exit(status)
    app = common.open_app()
    leftover = sum(1 for _ in app.index.records(course_id))
    if not app.ingestor.remove(course_id):
        if leftover:  # a first ingestion of it was stopped before it finished
            common.out.print(f"no course {course_id!r} in the catalogue; removed {leftover} leftover records")
            return
        raise common.CliError(f"no course with id {course_id!r}; `learnbot courses` lists them")
    common.out.print(f"removed {course_id}")


@commands.command()
def gc() -> None:
    """Delete index records left by an ingestion that was stopped before it finished."""
    app = common.open_app()
    stopped = app.ingestor.collect_stopped()
    stale = app.ingestor.collect_garbage()
    common.out.print(f"removed {stopped + stale} leftover records")


@commands.command()
def reindex(
    embedder: str = typer.Option("use+minilm", help="Embedder to rebuild with: use+minilm, use or minilm."),
) -> None:
    """Rebuild every chunk's vector with another embedder (the index records which one built it)."""
    if (status := common.handed_over("reindex", embedder=embedder)) is not None:  # a serve owns the index
        raise typer.Exit(status)
    app = common.open_app(embedder=embedder)
    with common.progress(f"re-embedding with {embedder}") as progress:
        count = app.reindex(embedder, progress)
    common.out.print(f"reindexed {count} chunks with {embedder}")
