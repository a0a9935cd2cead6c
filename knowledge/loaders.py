"""Load a course from a folder (with or without ``course.toml``) or from a single file.

A folder with ``course.toml`` names its lessons, their order and prerequisites. A folder without it
(a pile of PDFs, a docs export, a course repository) is still loaded: the folder depth that holds
the most document folders is taken as the lesson level, so ``module/lessons/lesson/README.md`` and
``module/lesson/README.md`` both work; pages above that level (module overviews, the top README)
belong to no lesson, files below it belong to the lesson folder above them. Folders that hold material
rather than lessons (``data``, ``images``, ``solution`` ...) are never lessons themselves. A flat folder of
files (documents beside the top README outnumber every folder level) makes one lesson per file. Order comes
from names (``2-x`` before ``10-y``). The course id comes from the folder name, looking past language and
generic folders (``iot-for-beginners/lessons/en`` is ``iot-for-beginners-en``), and its title from the top
README's heading.
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
from knowledge.text import CJK, detect_language


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
# Folders of material that belongs to a lesson (or to none), never lessons of their own.
_MATERIAL_DIRS = {"data", "images", "img", "assets", "media", "static", "solution", "solutions"}
# Folder names that say nothing about the course: look one level up for its name.
_GENERIC_DIRS = {"lessons", "docs", "content", "contents", "src", "course", "courses", "translations", "i18n"}
_LANGUAGE_DIRS = {"en", "en-us", "en-gb", "zh", "zh-cn", "zh-tw", "zh-hans", "zh-hant", "cn"}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:(.*?)\n)?---[ \t]*(?:\n|\Z)", re.S)


def load_course(
    path: Path, overrides: CourseOverrides | None = None, max_document_bytes: int | None = None
) -> Course:
    """Load a course folder or a single document file.

    Args:
        path: A course folder or one document file.
        overrides: Command-line values that replace the course's own settings.
        max_document_bytes: A document with more text than this (UTF-8 bytes) is skipped; None: no cap.

    Returns:
        The course. Files that could not be read are listed in ``course.problems``; so are lessons
        left out because all of their files were skipped (a course never has an empty lesson).

    Raises:
        CourseError: the path does not exist, holds no readable document, or ``course.toml`` is invalid.
    """
    overrides = overrides or CourseOverrides()
    path = path.expanduser()
    if not path.exists():
        raise CourseError(f"{path}: no such file or folder")
    if path.is_file() and path.name == "course.toml":
        path = path.parent
    if path.is_file():
        course = _load_single_file(path)
    elif (path / "course.toml").is_file():
        course = _load_declared(path)
    else:
        course = _load_inferred(path)
    if max_document_bytes is not None:
        _skip_oversized(course, max_document_bytes)
    _drop_empty_lessons(course)
    if not course.lessons:
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


# -- single file -------------------------------------------------------------------------------


def _load_single_file(path: Path) -> Course:
    course = Course(course_id=slugify(path.stem), title=_humanize(path.stem), language="", root=path.parent)
    lesson = Lesson(lesson_id=path.stem, title="", order=0)
    _add_file(course, lesson, path, path.name)
    lesson.title = lesson.title or _title_from_text(lesson) or _humanize(path.stem)
    course.title = lesson.title
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
            _add_file(course, lesson, file_path, rel)
        lesson.title = lesson.title or _title_from_text(lesson) or _humanize(lesson.lesson_id)
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
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(options):
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
    name, language = _course_name(root)
    course_id = slugify(f"{name}-{language}" if language else name)
    course = Course(course_id=course_id, title=_humanize(name), language="", root=root)
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not _skipped(p.relative_to(root))),
        key=lambda p: [natural_key(part) for part in p.relative_to(root).parts],
    )
    docs = []
    for path in files:
        if path.suffix.lower() not in SUFFIXES:
            continue
        refusal = outside_reason(root, path)
        if refusal:
            course.problems.append(LoadProblem(str(PurePosixPath(*path.relative_to(root).parts)), refusal))
        else:
            docs.append(path)
    lesson_depth = _lesson_depth(root, docs)
    lessons: dict[str, Lesson] = {}
    for path in docs:
        rel = PurePosixPath(*path.relative_to(root).parts)
        folder = rel.parent.parts
        is_readme = _is_overview(rel.stem)
        if lesson_depth == 0:
            lesson_id = "" if is_readme and not folder else str(rel.with_suffix(""))
            main = not folder or lesson_id != ""
        elif len(folder) < lesson_depth or _is_material(folder[:lesson_depth]):
            lesson_id, main = "", is_readme and not folder
        else:
            lesson_id = str(PurePosixPath(*folder[:lesson_depth]))
            main = is_readme and len(folder) == lesson_depth
        lesson = lessons.get(lesson_id)
        if lesson is None:
            lesson = Lesson(lesson_id=lesson_id, title="", order=len(lessons))
            if lesson_id and lesson_depth >= 2:
                lesson.module = str(PurePosixPath(*folder[: max(lesson_depth - 2, 1)]))
            lessons[lesson_id] = lesson
        _add_file(course, lesson, path, str(rel), main=main)
    for lesson in lessons.values():
        if not lesson.title:
            fallback = _humanize(PurePosixPath(lesson.lesson_id).name or "Overview")
            lesson.title = _title_from_text(lesson) or fallback
    course.lessons = [lesson for lesson in lessons.values() if lesson.sources or lesson.lesson_id]
    top = lessons.get("")
    if top and top.sources and "/" not in top.sources[0].path:
        course.title = top.title  # the top README names the whole course
    return course


def _course_name(root: Path) -> tuple[str, str]:
    """The name a course folder stands for, and the language its folder names, if any.

    ``iot-for-beginners/lessons/en`` is the course ``iot-for-beginners`` in ``en``: without this,
    every course repository with translations would get the id ``en`` and overwrite each other.
    """
    language = ""
    for folder in [root.resolve(), *root.resolve().parents][:4]:
        name = folder.name
        if not name:
            break
        if not language and name.lower() in _LANGUAGE_DIRS:
            language = name.lower()
        elif name.lower() not in _GENERIC_DIRS:
            return name, language
    return root.resolve().name or "course", ""


def _lesson_depth(root: Path, docs: list[Path]) -> int:
    """The folder depth that holds the most lessons; ties go deeper (lessons sit below modules).

    Depth 0 counts the documents beside the top README (a flat folder: one lesson per file); a deeper
    level counts its folders that hold documents, leaving out folders of material (``solution/R``).
    """
    folders = {p.parent.relative_to(root).parts for p in docs}
    counts = Counter(len(parts) for parts in folders if parts and not _is_material(parts))
    flat = sum(1 for p in docs if p.parent == root and not _is_overview(p.stem))
    if flat:
        counts[0] = flat
    return max(counts, key=lambda d: (counts[d], d)) if counts else 0


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


def _is_overview(stem: str) -> bool:
    """A folder's main page: ``README``, ``index``, or a translation of one (``README.zh-cn``)."""
    return stem.lower().split(".")[0] in _OVERVIEW_STEMS


def _is_material(parts: tuple[str, ...]) -> bool:
    return any(part.lower() in _MATERIAL_DIRS for part in parts)


def _skipped(rel: Path) -> bool:
    return any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts)


# -- shared ------------------------------------------------------------------------------------


def _add_file(course: Course, lesson: Lesson, path: Path, rel: str, main: bool = True) -> None:
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


def _skip_oversized(course: Course, max_bytes: int) -> None:
    """Leave out documents with more text than ``max_bytes``: one such file can take an hour to embed."""
    for lesson in course.lessons:
        kept = []
        for source in lesson.sources:
            size = len(source.text.encode("utf-8", "replace"))
            if size > max_bytes:
                limit = f"{max_bytes / 1_000_000:g} MB (LEARNBOT_MAX_DOCUMENT_MB): split it or raise it"
                reason = f"holds {size / 1_000_000:.1f} MB of text; the limit is {limit}"
                course.problems.append(LoadProblem(source.path, reason))
            else:
                kept.append(source)
        lesson.sources = kept


def _drop_empty_lessons(course: Course) -> None:
    """Leave out lessons all of whose files were skipped (unreadable, missing, too big), and say so.

    Learners would otherwise meet a lesson with no content ("Lesson 2 of 3" and nothing to read). A
    left-out lesson's prerequisites pass to the lessons that needed it, so the order still holds.
    """
    empty = {lesson.lesson_id: lesson for lesson in course.lessons if not lesson.sources}
    if not empty:
        return

    def inherited(prerequisites: list[str]) -> list[str]:
        # course.toml's prerequisites were checked for cycles already, so this ends.
        out: list[str] = []
        for prereq in prerequisites:
            for lesson_id in inherited(empty[prereq].prerequisites) if prereq in empty else [prereq]:
                if lesson_id not in out:
                    out.append(lesson_id)
        return out

    for lesson_id in empty:
        if lesson_id:  # the pages that belong to no lesson are not a lesson to report
            course.problems.append(
                LoadProblem(f"lesson {lesson_id}", "left out: all of its files were skipped")
            )
    course.lessons = [lesson for lesson in course.lessons if lesson.sources]
    for order, lesson in enumerate(course.lessons):
        lesson.order = order
        lesson.prerequisites = inherited(lesson.prerequisites)


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
        letters = [ch for ch in sample if ch.isalpha()]
        known = sum(1 for ch in letters if ch.isascii() or CJK.match(ch))
        if not letters or known < 0.5 * len(letters):
            course.problems.append(
                LoadProblem(
                    course.course_id,
                    f"the course language could not be detected; assumed '{course.language}' "
                    "(set it with --language or `language` in course.toml)",
                )
            )
