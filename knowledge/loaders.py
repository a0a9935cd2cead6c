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

from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from knowledge.course_files import (
    CourseError,
    add_file,
    humanize,
    natural_key,
    outside_reason,
    slugify,
    split_front_matter,
    title_from_text,
)
from knowledge.course_toml import load_declared
from knowledge.models import Course, Lesson, LoadProblem
from knowledge.readers import SUFFIXES
from knowledge.text import CJK, detect_language

__all__ = [
    "CourseError",
    "CourseOverrides",
    "detect_language",
    "load_course",
    "natural_key",
    "outside_reason",
    "slugify",
    "split_front_matter",
]


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
        course = load_declared(path)
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


# -- single file -------------------------------------------------------------------------------


def _load_single_file(path: Path) -> Course:
    course = Course(course_id=slugify(path.stem), title=humanize(path.stem), language="", root=path.parent)
    lesson = Lesson(lesson_id=path.stem, title="", order=0)
    add_file(course, lesson, path, path.name)
    lesson.title = lesson.title or title_from_text(lesson) or humanize(path.stem)
    course.title = lesson.title
    course.lessons.append(lesson)
    return course


# -- inferred structure ------------------------------------------------------------------------


def _load_inferred(root: Path) -> Course:
    name, language = _course_name(root)
    course_id = slugify(f"{name}-{language}" if language else name)
    course = Course(course_id=course_id, title=humanize(name), language="", root=root)
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
        add_file(course, lesson, path, str(rel), main=main)
    for lesson in lessons.values():
        if not lesson.title:
            fallback = humanize(PurePosixPath(lesson.lesson_id).name or "Overview")
            lesson.title = title_from_text(lesson) or fallback
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


def _is_overview(stem: str) -> bool:
    """A folder's main page: ``README``, ``index``, or a translation of one (``README.zh-cn``)."""
    return stem.lower().split(".")[0] in _OVERVIEW_STEMS


def _is_material(parts: tuple[str, ...]) -> bool:
    return any(part.lower() in _MATERIAL_DIRS for part in parts)


def _skipped(rel: Path) -> bool:
    return any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts)


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
