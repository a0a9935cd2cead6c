"""Shared pieces of the eval commands: corpora paths, question files, cached indexes, reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.app import App
from bot.config import Settings
from knowledge.loaders import CourseOverrides, load_course

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
IOT = SHARED / "corpora" / "iot-for-beginners"
OULAD = SHARED / "corpora" / "oulad"
console = Console()


@dataclass(frozen=True)
class Question:
    """One evaluation question: text, the lesson that answers it (empty: uncovered), options if a quiz."""

    qid: str
    question: str
    lesson_id: str
    answerable: bool = True
    options: tuple[str, ...] = ()
    correct_index: int | None = None
    language: str = ""


def read_questions(path: Path) -> list[Question]:
    """Read IoT quiz files as they are, or the simple ``{"question", "lesson_id", "answerable"}`` format."""
    questions: list[Question] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "questions" in row:  # an IoT quiz: several questions tied to one lesson
            for n, q in enumerate(row["questions"]):
                questions.append(
                    Question(
                        qid=f"{row['quiz_id']}.{n}",
                        question=q["question"],
                        lesson_id=row["lesson_paths"][0],
                        options=tuple(q["options"]),
                        correct_index=q["correct_index"],
                    )
                )
        else:
            questions.append(
                Question(
                    qid=str(row.get("id", line_no)),
                    question=row["question"],
                    lesson_id=row.get("lesson_id", ""),
                    answerable=bool(row.get("answerable", True)),
                    language=row.get("language", ""),
                )
            )
    return questions


def progress() -> Progress:
    """A rich progress bar for long evaluation loops."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def app_with_courses(work: Path, embedder: str, courses: dict[str, Path], **settings: object) -> App:
    """An app whose data dir under ``work`` holds ``courses`` (ingested once, then reused)."""
    app = App(Settings.load(env={}, data_dir=work / embedder, embedder=embedder, **settings))
    for course_id, path in courses.items():
        course = load_course(path, CourseOverrides(course_id=course_id))
        with progress() as bar:
            task = bar.add_task(f"ingest {course_id} ({embedder})", total=None)
            report = app.ingestor.ingest(
                course, progress=lambda done, total, task=task: bar.update(task, completed=done, total=total)
            )
        if report.chunks_embedded:
            console.print(
                f"ingested {course_id} with {embedder}: {report.chunks} chunks in {report.seconds:.1f}s"
            )
    return app


def write_report(out: Path, name: str, markdown: str) -> Path:
    """Write a Markdown report into ``out`` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(markdown, encoding="utf-8")
    return path


def chunks(items: list, size: int) -> Iterator[list]:
    """Split a list into pieces of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
