"""Reading a course's files into its lessons, the part both ways of loading a course share.

Front matter (title, objectives, minutes, quiz items), lesson titles from headings, and the rule that
no file outside the course folder is ever read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from knowledge.models import Course, Lesson, LoadProblem, QuizItemSpec, SourceText
from knowledge.readers import MARKDOWN_SUFFIXES, UnreadableDocument, read_document


class CourseError(Exception):
    """The course as a whole cannot be loaded (the message names the file and the problem)."""


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:(.*?)\n)?---[ \t]*(?:\n|\Z)", re.S)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter from a Markdown body.

    Raises:
        UnreadableDocument: the front matter is not valid YAML or not a mapping.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError as exc:
        raise UnreadableDocument(f"invalid front matter ({_yaml_error(exc)})") from exc
    if not isinstance(data, dict):
        raise UnreadableDocument("front matter must be a mapping of keys to values")
    return data, text[match.end() :]


def _yaml_error(exc: yaml.YAMLError) -> str:
    """One line for a YAML error, with the line number counted in the whole file (``---`` is line 1)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"line {exc.problem_mark.line + 2}: {exc.problem or exc.context}"
    return " ".join(str(exc).split())


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``2-x`` before ``10-y``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def slugify(text: str) -> str:
    """A lowercase id made of letters, digits and dashes."""
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-_") or "course"


def outside_reason(root: Path, path: Path) -> str:
    """Why ``path`` must not be read as part of the course at ``root``, or "" when it may be.

    A symbolic link is followed only when its target lies inside the course folder, and a file with
    several hard links is refused outright: either could otherwise expose a file from elsewhere on the
    machine (``/etc/passwd``) to every learner.

    Args:
        root: The course folder the admin named.
        path: A file found inside it.

    Returns:
        A short reason for the skip report, or an empty string.
    """
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "a broken or looping link"
    if not resolved.is_relative_to(root.resolve()):
        return (
            "a link to a file outside the course folder" if path.is_symlink() else "outside the course folder"
        )
    if resolved.is_file() and resolved.stat().st_nlink > 1:
        return "a hard link to a file that may lie outside the course folder"
    return ""


def add_file(course: Course, lesson: Lesson, path: Path, rel: str, main: bool = True) -> None:
    """Read one file into a lesson; record a problem instead of raising.

    The lesson's main page (its README, or its only file) goes first: titles and language come from it.
    """
    try:
        text = read_document(path)
    except UnreadableDocument as exc:
        course.problems.append(LoadProblem(rel, str(exc)))
        return
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        try:
            meta, text = split_front_matter(text)
        except UnreadableDocument as exc:
            # Broken metadata should not hide the lesson text: report it and keep the body.
            course.problems.append(LoadProblem(rel, str(exc)))
            meta, text = {}, _without_front_matter(text)
        _apply_front_matter(lesson, meta, course, rel, main)
        if not text.strip():
            course.problems.append(LoadProblem(rel, "contains only front matter, no lesson text"))
            return
    source = SourceText(path=rel, text=text)
    lesson.sources.insert(0, source) if main else lesson.sources.append(source)


def _without_front_matter(text: str) -> str:
    match = _FRONT_MATTER.match(text)
    return text[match.end() :] if match else text


def _apply_front_matter(lesson: Lesson, meta: dict[str, Any], course: Course, rel: str, main: bool) -> None:
    # The main page's metadata wins; another page only fills what is still missing.
    if meta.get("title") and (main or not lesson.title):
        lesson.title = str(meta["title"]).strip()
    objectives = meta.get("objectives")
    if isinstance(objectives, list) and (main or not lesson.objectives):
        lesson.objectives = [str(o) for o in objectives]
    minutes = meta.get("minutes")
    valid_minutes = isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0
    if valid_minutes and (main or not lesson.minutes):
        lesson.minutes = minutes
    quiz = meta.get("quiz") or []
    if not isinstance(quiz, list):
        course.problems.append(LoadProblem(rel, "'quiz' in the front matter must be a list of items"))
        return
    for n, raw in enumerate(quiz, start=1):
        try:
            lesson.quiz.append(quiz_item(raw, lesson.lesson_id))
        except ValueError as exc:
            course.problems.append(LoadProblem(rel, f"quiz item {n}: {exc}"))


def title_from_text(lesson: Lesson) -> str:
    """The first level-1 or level-2 heading of the lesson's main page, without Markdown marks."""
    for source in lesson.sources[:1]:
        match = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", source.text, re.M)
        if match:
            return re.sub(r"[*_`]|!?\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).strip()
    return ""


def humanize(name: str) -> str:
    """A file or folder name as a title: ``02-data_handling`` -> ``Data handling``."""
    name = re.sub(r"^\d+[-_. ]*", "", name)
    return re.sub(r"[-_]+", " ", name).strip().capitalize() or name


def quiz_item(raw: Any, lesson_id: str) -> QuizItemSpec:
    """One authored quiz item from front matter or ``quiz.toml``.

    Raises:
        ValueError: the item is malformed (the message says how).
    """
    if not isinstance(raw, dict):
        raise ValueError("a quiz item must be a mapping")
    question = str(raw.get("question", "")).strip()
    options = raw.get("options")
    answer = raw.get("answer")
    if not question or not isinstance(options, list) or len(options) < 2:
        raise ValueError("needs a question and at least two options")
    if len({str(o).strip().lower() for o in options}) != len(options):
        raise ValueError("options must be distinct")
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(options):
        raise ValueError(f"answer must be an option index from 0 to {len(options) - 1}")
    return QuizItemSpec(
        question=question,
        options=tuple(str(o) for o in options),
        answer=answer,
        explanation=str(raw.get("explanation", "")),
        lesson_id=lesson_id,
    )
