"""Load a course from a folder (with or without ``course.toml``) or from a single file.

A folder with ``course.toml`` names its lessons, their order and prerequisites. A folder without it
(a pile of PDFs, a docs export, a course repository) is still loaded: the folder depth that holds
the most document folders is taken as the lesson level, so ``module/lessons/lesson/README.md`` and
``module/lesson/README.md`` both work; pages above that level (module overviews, the top README)
belong to no lesson, files below it belong to the lesson folder above them. A flat folder of files
makes one lesson per file. Order comes from names (``2-x`` before ``10-y``).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from knowledge.models import Course, Lesson, LoadProblem, QuizItemSpec, SourceText
from knowledge.readers import MARKDOWN_SUFFIXES, SUFFIXES, UnreadableDocument, read_document


class CourseError(Exception):
    """The course as a whole cannot be loaded (the message names the file and the problem)."""


@dataclass(frozen=True)
class CourseOverrides:
    """Values given on the command line; they win over ``course.toml`` and inference."""

    course_id: str | None = None
    track: str | None = None
    premium: bool | None = None
    language: str | None = None


_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}
_OVERVIEW_STEMS = {"readme", "index"}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_CJK = re.compile(r"[\u3400-\u9fff]")


def load_course(path: Path, overrides: CourseOverrides | None = None) -> Course:
    """Load a course folder or a single document file.

    Args:
        path: A course folder or one document file.
        overrides: Command-line values that replace the course's own settings.

    Returns:
        The course. Files that could not be read are listed in ``course.problems``.

    Raises:
        CourseError: the path does not exist, holds no readable document, or ``course.toml`` is invalid.
    """
    overrides = overrides or CourseOverrides()
    path = path.expanduser()
    if not path.exists():
        raise CourseError(f"{path}: no such file or folder")
    if path.is_file():
        course = _load_single_file(path)
    elif (path / "course.toml").is_file():
        course = _load_declared(path)
    else:
        course = _load_inferred(path)
    if not any(lesson.sources for lesson in course.lessons):
        details = "; ".join(str(p) for p in course.problems[:5])
        raise CourseError(f"{path}: no readable document found" + (f" ({details})" if details else ""))
    _apply_overrides(course, overrides)
    return course


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter from a Markdown body.

    Raises:
        UnreadableDocument: the front matter is not valid YAML or not a mapping.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise UnreadableDocument(f"invalid front matter: {exc}") from exc
    if not isinstance(data, dict):
        raise UnreadableDocument("front matter must be a mapping of keys to values")
    return data, text[match.end() :]


def detect_language(text: str) -> str:
    """``zh`` when a sizeable share of the letters are CJK ideographs, else ``en``."""
    sample = text[:20000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    return "zh" if len(_CJK.findall(sample)) / letters > 0.15 else "en"


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``2-x`` before ``10-y``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def slugify(text: str) -> str:
    """A lowercase id made of letters, digits and dashes."""
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-_") or "course"


# -- single file -------------------------------------------------------------------------------


def _load_single_file(path: Path) -> Course:
    course = Course(course_id=slugify(path.stem), title=_humanize(path.stem), language="", root=path.parent)
    lesson = Lesson(lesson_id=path.stem, title=_humanize(path.stem), order=0)
    _add_file(course, lesson, path, path.name)
    course.lessons.append(lesson)
    return course


# -- course.toml -------------------------------------------------------------------------------


def _load_declared(root: Path) -> Course:
    toml_path = root / "course.toml"
    try:
        spec = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CourseError(f"{toml_path}: not valid TOML ({exc})") from exc
    missing = [key for key in ("id", "title") if not str(spec.get(key, "")).strip()]
    if missing:
        raise CourseError(f"{toml_path}: missing required field(s): {', '.join(missing)}")
    course = Course(
        course_id=str(spec["id"]),
        title=str(spec["title"]),
        language=str(spec.get("language", "")),
        root=root,
        track=str(spec.get("track", "")),
        premium=bool(spec.get("premium", False)),
        description=str(spec.get("description", "")),
        desired_retention=float(spec.get("desired_retention", 0.9)),
    )
    entries = spec.get("lessons")
    if entries is None:
        files = sorted(
            (p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES),
            key=lambda p: natural_key(p.name),
        )
        entries = [{"id": p.stem, "file": p.name} for p in files]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CourseError(f"{toml_path}: 'lessons' must be a list of [[lessons]] tables")
    for order, entry in enumerate(entries):
        if not entry.get("id") or not entry.get("file"):
            raise CourseError(f"{toml_path}: lesson #{order + 1} needs both 'id' and 'file'")
        lesson = Lesson(
            lesson_id=str(entry["id"]),
            title=str(entry.get("title", "")),
            order=order,
            prerequisites=[str(p) for p in entry.get("prerequisites", [])],
        )
        file_path = root / str(entry["file"])
        if not file_path.is_file():
            course.problems.append(LoadProblem(str(entry["file"]), "listed in course.toml but not found"))
        else:
            _add_file(course, lesson, file_path, str(entry["file"]))
        lesson.title = lesson.title or _humanize(lesson.lesson_id)
        course.lessons.append(lesson)
    _check_prerequisites(course, toml_path)
    _load_quiz_toml(course, root / "quiz.toml")
    return course


def _check_prerequisites(course: Course, toml_path: Path) -> None:
    ids = [lesson.lesson_id for lesson in course.lessons]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    if duplicates:
        raise CourseError(f"{toml_path}: duplicate lesson id(s): {', '.join(duplicates)}")
    graph = {lesson.lesson_id: lesson.prerequisites for lesson in course.lessons}
    for lesson_id, prereqs in graph.items():
        unknown = [p for p in prereqs if p not in graph]
        if unknown:
            raise CourseError(f"{toml_path}: lesson '{lesson_id}' has unknown prerequisite(s): {', '.join(unknown)}")
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = trail[trail.index(node) :] + [node]
            raise CourseError(f"{toml_path}: prerequisites form a cycle: {' -> '.join(cycle)}")
        state[node] = 1
        for prereq in graph[node]:
            visit(prereq, trail + [node])
        state[node] = 2

    for node in graph:
        visit(node, [])


def _load_quiz_toml(course: Course, path: Path) -> None:
    if not path.is_file():
        return
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        course.problems.append(LoadProblem("quiz.toml", f"not valid TOML ({exc})"))
        return
    by_id = {lesson.lesson_id: lesson for lesson in course.lessons}
    for n, raw in enumerate(data.get("quiz", []), start=1):
        lesson = by_id.get(str(raw.get("lesson", "")))
        if lesson is None:
            course.problems.append(LoadProblem("quiz.toml", f"item {n} names no known lesson"))
            continue
        try:
            lesson.quiz.append(_quiz_item(raw, lesson.lesson_id))
        except ValueError as exc:
            course.problems.append(LoadProblem("quiz.toml", f"item {n}: {exc}"))


def _quiz_item(raw: Any, lesson_id: str) -> QuizItemSpec:
    if not isinstance(raw, dict):
        raise ValueError("a quiz item must be a mapping")
    question = str(raw.get("question", "")).strip()
    options = raw.get("options")
    answer = raw.get("answer")
    if not question or not isinstance(options, list) or len(options) < 2:
        raise ValueError("needs a question and at least two options")
    if len({str(o).strip().lower() for o in options}) != len(options):
        raise ValueError("options must be distinct")
    if not isinstance(answer, int) or not 0 <= answer < len(options):
        raise ValueError(f"answer must be an option index from 0 to {len(options) - 1}")
    return QuizItemSpec(
        question=question,
        options=tuple(str(o) for o in options),
        answer=answer,
        explanation=str(raw.get("explanation", "")),
        lesson_id=lesson_id,
    )


# -- inferred structure ------------------------------------------------------------------------


def _load_inferred(root: Path) -> Course:
    course = Course(course_id=slugify(root.name), title=_humanize(root.name), language="", root=root)
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not _skipped(p.relative_to(root))),
        key=lambda p: [natural_key(part) for part in p.relative_to(root).parts],
    )
    docs = [p for p in files if p.suffix.lower() in SUFFIXES]
    folders = {p.parent.relative_to(root) for p in docs}
    depth_counts = Counter(len(folder.parts) for folder in folders)
    # The deepest of the most populated levels; ties go deeper (lessons sit below modules).
    lesson_depth = max(depth_counts, key=lambda d: (depth_counts[d], d)) if depth_counts else 0
    lessons: dict[str, Lesson] = {}
    for path in docs:
        rel = path.relative_to(root)
        folder = PurePosixPath(*rel.parent.parts)
        if lesson_depth == 0 or len(rel.parent.parts) < lesson_depth:
            overview = path.stem.lower() in _OVERVIEW_STEMS or lesson_depth > 0
            lesson_id = "" if overview else str(PurePosixPath(*rel.with_suffix("").parts))
        else:
            lesson_id = str(PurePosixPath(*folder.parts[:lesson_depth]))
        lesson = lessons.get(lesson_id)
        if lesson is None:
            lesson = Lesson(lesson_id=lesson_id, title="", order=len(lessons))
            if lesson_id and lesson_depth:
                lesson.module = str(PurePosixPath(*folder.parts[: max(lesson_depth - 2, 1)]))
            lessons[lesson_id] = lesson
        _add_file(course, lesson, path, str(PurePosixPath(*rel.parts)))
    for lesson in lessons.values():
        if not lesson.title:
            lesson.title = _title_from_text(lesson) or _humanize(PurePosixPath(lesson.lesson_id).name or "Overview")
    course.lessons = [lesson for lesson in lessons.values() if lesson.sources or lesson.lesson_id]
    return course


def _skipped(rel: Path) -> bool:
    return any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts)


# -- shared ------------------------------------------------------------------------------------


def _add_file(course: Course, lesson: Lesson, path: Path, rel: str) -> None:
    """Read one file into a lesson; record a problem instead of raising."""
    try:
        text = read_document(path)
        if path.suffix.lower() in MARKDOWN_SUFFIXES:
            meta, text = split_front_matter(text)
            _apply_front_matter(lesson, meta, course, rel)
            if not text.strip():
                raise UnreadableDocument("contains only front matter, no lesson text")
    except UnreadableDocument as exc:
        course.problems.append(LoadProblem(rel, str(exc)))
        return
    is_main = PurePosixPath(rel).stem.lower() in _OVERVIEW_STEMS
    source = SourceText(path=rel, text=text)
    lesson.sources.insert(0, source) if is_main else lesson.sources.append(source)


def _apply_front_matter(lesson: Lesson, meta: dict[str, Any], course: Course, rel: str) -> None:
    if meta.get("title") and not lesson.title:
        lesson.title = str(meta["title"])
    if isinstance(meta.get("objectives"), list):
        lesson.objectives = [str(o) for o in meta["objectives"]]
    minutes = meta.get("minutes")
    if isinstance(minutes, int) and minutes > 0:
        lesson.minutes = minutes
    for n, raw in enumerate(meta.get("quiz") or [], start=1):
        try:
            lesson.quiz.append(_quiz_item(raw, lesson.lesson_id))
        except ValueError as exc:
            course.problems.append(LoadProblem(rel, f"quiz item {n}: {exc}"))


def _title_from_text(lesson: Lesson) -> str:
    for source in lesson.sources[:1]:
        match = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", source.text, re.M)
        if match:
            return re.sub(r"[*_`]|!?\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).strip()
    return ""


def _humanize(name: str) -> str:
    name = re.sub(r"^\d+[-_. ]*", "", name)
    return re.sub(r"[-_]+", " ", name).strip().capitalize() or name


def _apply_overrides(course: Course, overrides: CourseOverrides) -> None:
    if overrides.course_id:
        course.course_id = overrides.course_id
    if overrides.track is not None:
        course.track = overrides.track
    if overrides.premium is not None:
        course.premium = overrides.premium
    if overrides.language:
        course.language = overrides.language
    if not course.language:
        sample = " ".join(s.text[:4000] for lesson in course.lessons[:8] for s in lesson.sources[:1])
        course.language = detect_language(sample)
