"""The plain data the knowledge pipeline passes around: courses, lessons, chunks, scored passages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def location(lesson_title: str, heading: str) -> str:
    """``Lesson title > section > subsection``, without repeating a title the heading path starts with."""
    parts = heading.split(" > ") if heading else []
    if parts and parts[0].strip().lower() == lesson_title.strip().lower():
        parts = parts[1:]
    return " > ".join(p for p in [lesson_title, *parts] if p)


@dataclass(frozen=True)
class QuizItemSpec:
    """A quiz item authored in a lesson's front matter or in a course's ``quiz.toml``."""

    question: str
    options: tuple[str, ...]
    answer: int
    explanation: str = ""
    lesson_id: str = ""


@dataclass
class Lesson:
    """One lesson: a unit a learner studies, made of one or more source files.

    A lesson with an empty ``lesson_id`` holds pages that belong to no lesson (module overviews,
    the course's top README): searchable, but never recommended or counted as progress.
    """

    lesson_id: str
    title: str
    order: int
    sources: list[SourceText] = field(default_factory=list)
    objectives: list[str] = field(default_factory=list)
    minutes: int | None = None
    prerequisites: list[str] = field(default_factory=list)
    quiz: list[QuizItemSpec] = field(default_factory=list)
    module: str = ""


@dataclass
class SourceText:
    """The text read from one file, as Markdown-ish text (headings marked with ``#``)."""

    path: str  # relative to the course root, with forward slashes
    text: str


@dataclass
class LoadProblem:
    """A file (or setting) that could not be read, and why. Loading goes on without it."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Course:
    """A loaded course: its settings and lessons, plus the problems met while reading it."""

    course_id: str
    title: str
    language: str
    root: Path
    track: str = ""
    premium: bool = False
    description: str = ""
    desired_retention: float = 0.9
    translation_of: str = ""
    """The id of the course this one translates (lessons pair by id), or empty."""
    lessons: list[Lesson] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a lesson with everything needed to cite it."""

    chunk_id: str
    text: str
    course_id: str
    lesson_id: str
    lesson_title: str
    heading: str
    source_path: str
    language: str
    track: str = ""
    premium: bool = False
    position: int = 0
    translation_of: str = ""

    @property
    def location(self) -> str:
        """Where the chunk sits: ``Lesson title > section > subsection``."""
        return location(self.lesson_title, self.heading)

    def metadata(self) -> dict[str, Any]:
        """Chunk fields for the vector store (flat, scalar values only)."""
        data = asdict(self)
        data.pop("text")
        data.pop("chunk_id")
        return data

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
        """Rebuild a chunk from what the vector store returns."""
        names = cls.__dataclass_fields__.keys() - {"chunk_id", "text"}
        return cls(chunk_id=chunk_id, text=text, **{k: meta[k] for k in names if k in meta})


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk with the score a retriever gave it (higher is better)."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None


@dataclass(frozen=True)
class SearchFilter:
    """What a search may see: course ids, tracks, and whether premium content is allowed.

    ``None`` for a field means "no restriction". ``allow_premium=False`` hides every premium chunk;
    ``premium_tracks`` then names the premium tracks the learner is entitled to.
    """

    course_ids: tuple[str, ...] | None = None
    tracks: tuple[str, ...] | None = None
    allow_premium: bool = True
    premium_tracks: tuple[str, ...] = ()
    languages: tuple[str, ...] | None = None

    def admits(self, chunk: Chunk) -> bool:
        """Whether a chunk passes this filter (used by the keyword index; Chroma gets :meth:`where`)."""
        if self.course_ids is not None and chunk.course_id not in self.course_ids:
            return False
        if self.languages is not None and chunk.language not in self.languages:
            return False
        if self.tracks is not None and chunk.track not in self.tracks:
            return False
        if chunk.premium and not self.allow_premium and chunk.track not in self.premium_tracks:
            return False
        return True

    def where(self) -> dict[str, Any] | None:
        """The same filter as a Chroma ``where`` clause, applied inside the index query."""
        clauses: list[dict[str, Any]] = []
        if self.course_ids is not None:
            clauses.append({"course_id": {"$in": list(self.course_ids) or [""]}})
        if self.tracks is not None:
            clauses.append({"track": {"$in": list(self.tracks) or [""]}})
        if self.languages is not None:
            clauses.append({"language": {"$in": list(self.languages) or [""]}})
        if not self.allow_premium:
            if self.premium_tracks:
                clauses.append({"$or": [{"premium": False}, {"track": {"$in": list(self.premium_tracks)}}]})
            else:
                clauses.append({"premium": False})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}
