"""Incremental, crash-safe ingestion of a course into the index and the catalogue.

Unchanged lessons cost nothing; changed lessons get new records (vectors reused for any chunk whose
text was embedded before); the catalogue switches versions in one transaction; old records go last.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from knowledge.chunking import Chunker, index_text
from knowledge.embedders import Embedder
from knowledge.index import Record, VectorIndex, record_id
from knowledge.models import Chunk, Course, Lesson, LoadProblem

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while embedding."""
LessonFn = Callable[[int, int, str, int], None]
"""Called as ``on_lesson(n, total, lesson_id, chunks)`` as each lesson is chunked, before embedding."""


class Catalog(Protocol):
    """Where the current version of every lesson is recorded (the SQLite store implements it)."""

    def lesson_versions(self) -> dict[tuple[str, str], str]:
        """``{(course_id, lesson_id): version}`` for every live lesson."""
        ...

    def commit_course(self, course: dict[str, Any], lessons: list[dict[str, Any]]) -> None:
        """Make a course version live, atomically.

        Each lesson row carries its authored ``quiz`` items and its ``chunk_ids`` (the live chunks).
        """
        ...

    def delete_course(self, course_id: str) -> bool:
        """Remove a course from the catalogue."""
        ...


CATALOG_FORMAT = 2
"""Bumped when the catalogue stores more about a lesson (2: quiz items): every lesson is then
re-committed on its next ingest (vectors are reused, nothing is re-embedded)."""


@dataclass
class IngestReport:
    """What an ingestion did."""

    course_id: str
    lessons: int = 0
    chunks: int = 0
    lessons_changed: int = 0
    lessons_removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    orphans_removed: int = 0
    """Records left by an earlier ingestion that was stopped before it finished (of any course)."""
    problems: list[LoadProblem] = field(default_factory=list)


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _marks(value: str | None) -> dict[str, str]:
    """``course_id -> host:pid`` of the run that set each clean-up mark."""
    pairs = (line.split("\t", 1) for line in (value or "").splitlines() if line)
    return {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}


def _running(owner: str) -> bool:
    """Whether the process that set a mark may still be writing (unknown hosts count as running)."""
    host, _, pid = owner.rpartition(":")
    if owner == _this_process():
        return True
    if host != socket.gethostname() or not pid.isdigit():
        return bool(owner)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lesson_version(course: Course, lesson: Lesson, chunks: list[Chunk]) -> str:
    """A fingerprint of everything stored about a lesson: its records and its catalogue row."""
    settings = (course.course_id, course.language, course.track, course.premium, course.title)
    if course.translation_of:  # kept out of the fingerprint when empty, so older versions stay valid
        settings += (course.translation_of,)
    about = (
        lesson.lesson_id,
        lesson.title,
        lesson.order,
        lesson.module,
        lesson.objectives,
        lesson.minutes,
        lesson.prerequisites,
        [asdict(q) for q in lesson.quiz],
    )
    payload = json.dumps(
        [CATALOG_FORMAT, settings, about, [(c.chunk_id, c.position) for c in chunks]], default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class Ingestor:
    """Loads courses into a vector index and a catalogue.

    Example:
        >>> report = Ingestor(index, embedder, store, Chunker()).ingest(course)
    """

    def __init__(
        self,
        index: VectorIndex,
        embedder: Embedder,
        catalog: Catalog,
        chunker: Chunker,
        batch_size: int = 256,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.catalog = catalog
        self.chunker = chunker
        self.batch_size = batch_size

    def ingest(
        self, course: Course, progress: ProgressFn | None = None, on_lesson: LessonFn | None = None
    ) -> IngestReport:
        """Bring the index and the catalogue in line with ``course``.

        Args:
            course: The loaded course.
            progress: Told how many new chunks are embedded so far, of how many.
            on_lesson: Told of each lesson as it is chunked (a plain log shows a long run is alive).
        """
        started = time.perf_counter()
        report = IngestReport(course_id=course.course_id, problems=list(course.problems))
        current = {
            lesson: v for (c, lesson), v in self.catalog.lesson_versions().items() if c == course.course_id
        }
        by_lesson: dict[str, list[Chunk]] = {}
        for n, lesson in enumerate(course.lessons, start=1):
            by_lesson[lesson.lesson_id] = self.chunker.chunk_lesson(course, lesson)
            if on_lesson:
                on_lesson(n, len(course.lessons), lesson.lesson_id, len(by_lesson[lesson.lesson_id]))
        versions = {
            lesson.lesson_id: lesson_version(course, lesson, by_lesson[lesson.lesson_id])
            for lesson in course.lessons
        }
        changed = [lid for lid, v in versions.items() if current.get(lid) != v]
        report.lessons = sum(1 for lid in by_lesson if lid)
        report.chunks = sum(len(chunks) for chunks in by_lesson.values())
        report.lessons_changed = len(changed)
        report.lessons_removed = len(set(current) - set(versions))

        report.orphans_removed = self.collect_stopped(but=course.course_id)
        if changed:
            # Marked before writing: if this run is killed midway, the next ingestion of any course
            # (or `learnbot gc`) deletes what it wrote.
            self._garbage_pending(course.course_id, True)
            self._write_records(course, {lid: by_lesson[lid] for lid in changed}, versions, report, progress)
        committing = bool(changed or report.lessons_removed or not current)
        if committing:
            self._garbage_pending(course.course_id, True)
            self.catalog.commit_course(
                self._course_row(course, report), self._lesson_rows(course, by_lesson, versions)
            )
        # Also when nothing changed, if a run was killed between its commit and its clean-up.
        if committing or self._garbage_pending(course.course_id):
            self.collect_garbage(course.course_id)
            self._garbage_pending(course.course_id, False)
        report.seconds = time.perf_counter() - started
        return report

    def _write_records(
        self,
        course: Course,
        chunks_by_lesson: dict[str, list[Chunk]],
        versions: dict[str, str],
        report: IngestReport,
        progress: ProgressFn | None,
    ) -> None:
        records = [
            Record(record_id(chunk.chunk_id, versions[lid]), chunk, versions[lid])
            for lid, chunks in chunks_by_lesson.items()
            for chunk in chunks
        ]
        # Vectors of chunks embedded before (same text in an older version of the lesson) are reused.
        known: dict[str, np.ndarray] = {}
        old = [r for r in self.index.records(course.course_id)]
        by_chunk = {r.chunk.chunk_id: r.record_id for r in old}
        wanted = {by_chunk[r.chunk.chunk_id] for r in records if r.chunk.chunk_id in by_chunk}
        for rid, vector in self.index.vectors(sorted(wanted)).items():
            known[rid.split("@")[0]] = vector
        todo = [r for r in records if r.chunk.chunk_id not in known]
        reused = [r for r in records if r.chunk.chunk_id in known]
        report.chunks_reused = len(reused)
        if reused:
            self.index.add(reused, np.vstack([known[r.chunk.chunk_id] for r in reused]))
        if progress:
            progress(0, len(todo))
        embed_started = time.perf_counter()
        # Each batch is written by a background thread while the next one is embedded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer") as writer:
            pending = []
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start : start + self.batch_size]
                vectors = self.embedder.embed_documents([index_text(r.chunk) for r in batch])
                pending.append(writer.submit(self.index.add, batch, vectors))
                if progress:
                    progress(start + len(batch), len(todo))
            for future in pending:
                future.result()  # re-raise a failed write before anything is committed
        report.embed_seconds = time.perf_counter() - embed_started
        report.chunks_embedded = len(todo)

    def _garbage_pending(self, course_id: str, pending: bool | None = None) -> bool:
        """Read (or set) the mark that records of the course may be left over (a commit or a stopped run).

        A catalogue without a place for marks (a test double) always answers yes.
        """
        get, put = getattr(self.catalog, "get_setting", None), getattr(self.catalog, "set_setting", None)
        if get is None or put is None:
            return True
        key = f"gc_pending:{course_id}"
        if pending is not None:
            put(key, "1" if pending else "")
            marked = {c: owner for c, owner in _marks(get("gc_pending")).items() if c != course_id}
            if pending:
                marked[course_id] = _this_process()
            put("gc_pending", "\n".join(f"{c}\t{owner}" for c, owner in sorted(marked.items())))
        return bool(get(key))

    def collect_stopped(self, but: str | None = None) -> int:
        """Delete the records of every course whose last ingestion or removal did not finish.

        Args:
            but: A course to leave alone (the one being ingested now handles its own).

        Returns:
            How many records were deleted.
        """
        get = getattr(self.catalog, "get_setting", None)
        if get is None:
            return 0
        removed = 0
        for course_id, owner in _marks(get("gc_pending")).items():
            # A run still going (this process, or a live one on this machine) is not stopped.
            if course_id != but and not _running(owner):
                removed += self.collect_garbage(course_id)
                self._garbage_pending(course_id, False)
        return removed

    def collect_garbage(self, course_id: str | None = None) -> int:
        """Delete records whose lesson version is no longer live (after a commit, or a crash)."""
        live = self.catalog.lesson_versions()
        stale = [
            r.record_id
            for r in self.index.records(course_id)
            if live.get((r.chunk.course_id, r.chunk.lesson_id)) != r.version
        ]
        self.index.delete(stale)
        return len(stale)

    def remove(self, course_id: str) -> bool:
        """Remove a course from the catalogue, then its records (also those of a stopped ingestion)."""
        existed = self.catalog.delete_course(course_id)
        self.index.delete([r.record_id for r in self.index.records(course_id)])
        self._garbage_pending(course_id, False)
        return existed

    @staticmethod
    def _course_row(course: Course, report: IngestReport) -> dict[str, Any]:
        return {
            "course_id": course.course_id,
            "title": course.title,
            "language": course.language,
            "track": course.track,
            "premium": int(course.premium),
            "description": course.description,
            "desired_retention": course.desired_retention,
            "source": str(course.root),
            "lesson_count": report.lessons,
            "chunk_count": report.chunks,
            "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        }

    @staticmethod
    def _lesson_rows(
        course: Course, by_lesson: dict[str, list[Chunk]], versions: dict[str, str]
    ) -> list[dict[str, Any]]:
        return [
            {
                "lesson_id": lesson.lesson_id,
                "title": lesson.title,
                "position": lesson.order,
                "module": lesson.module,
                "objectives": lesson.objectives,
                "minutes": lesson.minutes,
                "prerequisites": lesson.prerequisites,
                "version": versions[lesson.lesson_id],
                "chunk_count": len(by_lesson[lesson.lesson_id]),
                # Authored quiz items go live (and vanished ones retire) with the lesson version.
                "quiz": [asdict(q) for q in lesson.quiz],
                # Generated items whose source chunk is not among these retire with it too.
                "chunk_ids": [c.chunk_id for c in by_lesson[lesson.lesson_id]],
            }
            for lesson in course.lessons
        ]
