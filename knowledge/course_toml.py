"""Load a course folder that has a ``course.toml``: it names the lessons, their order and prerequisites."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from knowledge.course_files import (
    CourseError,
    add_file,
    humanize,
    natural_key,
    outside_reason,
    quiz_item,
    title_from_text,
)
from knowledge.models import Course, Lesson, LoadProblem
from knowledge.readers import SUFFIXES


def load_declared(root: Path) -> Course:
    """Load the course whose folder ``root`` holds a ``course.toml``.

    Raises:
        CourseError: the file is not valid TOML, misses a field, or its lessons form a cycle.
    """
    toml_path = root / "course.toml"
    try:
        spec = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CourseError(f"{toml_path}: not valid TOML ({exc})") from exc
    missing = [key for key in ("id", "title") if not str(spec.get(key, "")).strip()]
    if missing:
        raise CourseError(f"{toml_path}: missing required field(s): {', '.join(missing)}")
    _check_types(spec, toml_path)
    course = Course(
        course_id=str(spec["id"]).strip(),
        title=str(spec["title"]).strip(),
        language=spec.get("language", ""),
        root=root,
        track=spec.get("track", ""),
        premium=spec.get("premium", False),
        description=spec.get("description", ""),
        desired_retention=float(spec.get("desired_retention", 0.9)),
        translation_of=str(spec.get("translation_of", "")).strip(),
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
        prerequisites = entry.get("prerequisites", [])
        if not isinstance(prerequisites, list) or not all(isinstance(p, str) for p in prerequisites):
            raise CourseError(
                f"{toml_path}: lesson '{entry['id']}': 'prerequisites' must be a list of lesson ids, "
                f'like ["intro"]'
            )
        lesson = Lesson(
            lesson_id=str(entry["id"]),
            title=str(entry.get("title", "")),
            order=order,
            prerequisites=list(prerequisites),
        )
        rel = str(entry["file"])
        file_path = root / rel
        refusal = outside_reason(root, file_path) if file_path.exists() or file_path.is_symlink() else ""
        if refusal or not file_path.resolve().is_relative_to(root.resolve()):
            course.problems.append(
                LoadProblem(rel, f"listed in course.toml but {refusal or 'outside the course folder'}")
            )
        elif not file_path.is_file():
            course.problems.append(LoadProblem(rel, "listed in course.toml but not found"))
        else:
            add_file(course, lesson, file_path, rel)
        lesson.title = lesson.title or title_from_text(lesson) or humanize(lesson.lesson_id)
        course.lessons.append(lesson)
    _check_prerequisites(course, toml_path)
    _load_quiz_toml(course, root / "quiz.toml")
    return course


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "language": (str,),
    "track": (str,),
    "description": (str,),
    "translation_of": (str,),
    "premium": (bool,),
    "desired_retention": (int, float),
}


def _check_types(spec: dict[str, Any], toml_path: Path) -> None:
    for key, types in _FIELD_TYPES.items():
        if key not in spec:
            continue
        value = spec[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            wanted = {"str": "a string", "bool": "true or false", "int": "a number"}[types[0].__name__]
            raise CourseError(f"{toml_path}: '{key}' must be {wanted}, not {value!r}")
    retention = spec.get("desired_retention", 0.9)
    if not 0 < retention < 1:
        raise CourseError(f"{toml_path}: 'desired_retention' must be between 0 and 1, not {retention!r}")


def _check_prerequisites(course: Course, toml_path: Path) -> None:
    ids = [lesson.lesson_id for lesson in course.lessons]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    if duplicates:
        raise CourseError(f"{toml_path}: duplicate lesson id(s): {', '.join(duplicates)}")
    graph = {lesson.lesson_id: lesson.prerequisites for lesson in course.lessons}
    for lesson_id, prereqs in graph.items():
        unknown = [p for p in prereqs if p not in graph]
        if unknown:
            raise CourseError(
                f"{toml_path}: lesson '{lesson_id}' has unknown prerequisite(s): {', '.join(unknown)}"
            )
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
    items = data.get("quiz", [])
    if not isinstance(items, list):
        course.problems.append(LoadProblem("quiz.toml", "'quiz' must be a list of [[quiz]] tables"))
        return
    by_id = {lesson.lesson_id: lesson for lesson in course.lessons}
    for n, raw in enumerate(items, start=1):
        if not isinstance(raw, dict):
            course.problems.append(LoadProblem("quiz.toml", f"item {n}: a quiz item must be a table"))
            continue
        lesson = by_id.get(str(raw.get("lesson", "")))
        if lesson is None:
            course.problems.append(LoadProblem("quiz.toml", f"item {n} names no known lesson"))
            continue
        try:
            lesson.quiz.append(quiz_item(raw, lesson.lesson_id))
        except ValueError as exc:
            course.problems.append(LoadProblem("quiz.toml", f"item {n}: {exc}"))
