"""A lesson's difficulty (0-1): from its text, alike for a lesson and its translation, then from quiz answers.

The text says what the lesson asks of a reader, measured so that a lesson and its translation score
alike: the share of code among its blocks, the density of technical tokens (acronyms, identifiers,
version numbers) and its length. Its place in the course plays no part. Once learners have answered
:data:`MIN_ANSWERS` questions on the lesson (pooled over its translations: :func:`translation_groups`),
their error rate takes over more and more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from recommender.keywords import MARKUP
from recommender.records import CourseRecord, LessonRow

MIN_ANSWERS = 10
"""Quiz answers on a lesson before learners' accuracy starts to set its difficulty."""

_FENCE = re.compile(r"```.*?```", re.S)
_TECHNICAL = re.compile(
    r"(?<![\w.])(?:[A-Z]{2,}[A-Za-z0-9]*|[A-Za-z]+\d+[A-Za-z0-9]*|[a-z]+[A-Z]\w*|\w+\(\)|\d+\.\d+\w*)(?![\w])"
)


def text_difficulty(text: str) -> float:
    """0-1 from what a lesson asks of its reader, alike for a lesson and its translation.

    Three things a translation keeps: the share of code blocks among the lesson's lines, the distinct
    technical tokens it uses (acronyms, identifiers, versions: written the same in every language) and
    its length in lines.
    """
    code = len(_FENCE.findall(text))
    prose = _FENCE.sub(" ", text)
    lines = [line for line in prose.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines and not code:
        return 0.5
    technical = len(set(_TECHNICAL.findall(MARKUP.sub(" ", prose))))
    score = (
        0.5 * min(1.0, code / max(1, len(lines)) / 0.25)
        + 0.25 * min(1.0, technical / 40)
        + 0.25 * min(1.0, len(lines) / 300)
    )
    return float(round(score, 4))


def depths(lessons: Sequence[LessonRow]) -> dict[str, float]:
    """Each lesson's depth in the prerequisite graph, 0-1 (course order when none are declared)."""
    if not any(lesson.prerequisites for lesson in lessons):
        n = max(1, len(lessons) - 1)
        return {lesson.lesson_id: i / n for i, lesson in enumerate(lessons)}
    known = {lesson.lesson_id: lesson.prerequisites for lesson in lessons}
    depth: dict[str, int] = {}

    def walk(lesson_id: str, seen: frozenset[str] = frozenset()) -> int:
        if lesson_id not in depth:
            parents = [p for p in known.get(lesson_id, []) if p in known and p not in seen]
            depth[lesson_id] = 1 + max((walk(p, seen | {lesson_id}) for p in parents), default=-1)
        return depth[lesson_id]

    for lesson in lessons:
        walk(lesson.lesson_id)
    top = max(1, max(depth.values()))
    return {lid: d / top for lid, d in depth.items()}


def translation_groups(
    courses: Sequence[CourseRecord], lessons: Mapping[str, set[str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """``(course, lesson) -> (course, lesson)`` of the first course of its translation group.

    Two courses translate each other when they are in different languages and share most lesson ids
    (a course repository's ``en`` and ``zh`` folders, or ``security-basics`` and ``security-basics-zh``).
    """
    language = {c.course_id: c.language for c in courses}
    ids = sorted(c for c in lessons if c in language)
    groups: dict[tuple[str, str], tuple[str, str]] = {}
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            shared = lessons[a] & lessons[b]
            if (
                language[a] == language[b]
                or len(shared) < 2
                or len(shared) < 0.5 * min(len(lessons[a]), len(lessons[b]))
            ):
                continue
            for lesson in shared:
                original = groups.get((a, lesson), (a, lesson))
                groups[(a, lesson)] = groups[(b, lesson)] = original
    return groups


def blended_difficulty(from_text: float, answers: int, right: int) -> float:
    """Difficulty from the text and graph until :data:`MIN_ANSWERS`, then more and more from error rates."""
    if answers < MIN_ANSWERS:
        return from_text
    weight = min(1.0, answers / (5 * MIN_ANSWERS))
    return (1 - weight) * from_text + weight * (1 - right / answers)
