"""The live catalogue the retrievers search.

Records of live lesson versions, their BM25 indexes (of passages and of whole lessons), and which
lessons translate each other; rebuilt when the catalogue changes (also when another process changed it).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence

from knowledge.chunking import index_text
from knowledge.index import Record, VectorIndex
from knowledge.keyword import KeywordIndex
from knowledge.models import Chunk, SearchFilter
from knowledge.text import tokenize


class LiveRecords:
    """The records of live lesson versions, and a BM25 index over them, rebuilt when the catalogue changes.

    ``versions`` returns the live ``{(course_id, lesson_id): version}``; ``generation`` changes with
    every commit, also one made by another process, so a serving bot picks up a CLI ingestion.
    """

    def __init__(
        self,
        index: VectorIndex,
        versions: Callable[[], dict[tuple[str, str], str]],
        generation: Callable[[], str],
    ) -> None:
        self.index = index
        self._versions = versions
        self._generation = generation
        self._lock = threading.Lock()
        self._seen: str | None = None
        self._live: dict[tuple[str, str], str] = {}
        self._keyword: KeywordIndex | None = None
        self._lesson_keyword: KeywordIndex | None = None
        self._kinds: set[tuple[str, str, bool, str]] = set()
        self._translations: dict[tuple[str, str], tuple[str, str]] = {}
        self._copies: dict[tuple[str, str], list[Chunk]] = {}
        self._by_id: dict[str, Chunk] = {}
        self._lessons: list[Chunk] = []
        self._untranslated: dict[tuple[str, SearchFilter | None], list[str]] = {}
        """:meth:`untranslated_languages` by question language and filter, until the catalogue changes."""
        self._tokens: dict[str, list[str]] = {}
        """Each live record's keyword tokens, kept across rebuilds: tokenising (jieba above all) is
        most of a rebuild, and an ingestion changes few lessons."""

    def refresh(self) -> None:
        """Reload if the catalogue changed since the last call."""
        generation = self._generation()
        if generation == self._seen and self._keyword is not None:
            return
        with self._lock:
            if generation == self._seen and self._keyword is not None:
                return
            live = self._versions()
            records = [
                r
                for r in self.index.records()
                if live.get((r.chunk.course_id, r.chunk.lesson_id)) == r.version
            ]
            records.sort(key=lambda r: (r.chunk.course_id, r.chunk.source_path, r.chunk.position))
            # a record id names one text of one lesson version, so its tokens never go stale
            tokens: dict[str, list[str]] = {}
            for r in records:
                cached = self._tokens.get(r.record_id)
                tokens[r.record_id] = (
                    cached if cached is not None else [sys.intern(t) for t in tokenize(index_text(r.chunk))]
                )
            chunks = [r.chunk for r in records]
            self._live = live
            self._by_id = {r.record_id: r.chunk for r in records}
            firsts = {(c.course_id, c.lesson_id): c for c in reversed(chunks) if c.lesson_id}
            self._lessons = list(firsts.values())
            self._untranslated = {}
            self._kinds = {(c.course_id, c.track, c.premium, c.language) for c in chunks}
            self._translations = translation_groups(chunks)
            self._copies = {}
            for chunk in chunks:  # one stand-in chunk per translated lesson, by translation group
                group = self._translations.get((chunk.course_id, chunk.lesson_id))
                copies = self._copies.setdefault(group, []) if group else None
                if copies is not None and all(c.course_id != chunk.course_id for c in copies):
                    copies.append(chunk)
            self._keyword = KeywordIndex(chunks, tokens=[tokens[r.record_id] for r in records])
            self._lesson_keyword = _lesson_index(firsts, records, tokens)
            self._tokens = tokens  # records no longer live drop out
            self._seen = generation

    def narrowing(self, search_filter: SearchFilter | None) -> SearchFilter | None:
        """The filter, or ``None`` when it admits every live chunk (a filtered vector query is slower)."""
        if search_filter is None:
            return None
        return None if all(search_filter.admits(c) for c in self._probes()) else search_filter

    def languages(self, search_filter: SearchFilter | None = None) -> list[str]:
        """The languages of the live chunks the filter admits, sorted."""
        self.refresh()
        return sorted(
            {c.language for c in self._probes() if search_filter is None or search_filter.admits(c)}
        )

    def translations(self) -> dict[tuple[str, str], tuple[str, str]]:
        """``(course_id, lesson_id)`` of each translated lesson -> the key its translation group shares."""
        self.refresh()
        return self._translations

    def _probes(self) -> list[Chunk]:
        # One stand-in chunk per kind of live chunk, for asking a filter what it admits.
        return [
            Chunk("", "", course, "", "", "", "", language, track=track, premium=premium)
            for course, track, premium, language in self._kinds
        ]

    def is_live(self, chunk: Chunk, version: str) -> bool:
        """Whether a record belongs to the live version of its lesson."""
        return self._live.get((chunk.course_id, chunk.lesson_id)) == version

    def chunk(self, record_id: str) -> Chunk | None:
        """A live record's chunk; ``None`` for a record of no live version (as of the last refresh)."""
        return self._by_id.get(record_id)

    def untranslated_languages(self, language: str, search_filter: SearchFilter | None = None) -> list[str]:
        """The other languages of admitted lessons that have no admitted copy in ``language``, sorted.

        Such lessons are reached from a question in ``language`` only across languages. Like
        :meth:`has_copy_in`, it reads the catalogue as the caller's last :meth:`refresh` left it: it is
        asked on every question, and a refresh asks the store for the catalogue's generation.
        """
        known = self._untranslated.get((language, search_filter))
        if known is not None:
            return known
        found: set[str] = set()
        for chunk in self._lessons:
            if (
                chunk.language != language
                and chunk.language not in found
                and (search_filter is None or search_filter.admits(chunk))
                and not self.has_copy_in(chunk, language, search_filter)
            ):
                found.add(chunk.language)
        languages = sorted(found)
        if len(self._untranslated) < 256:  # filters are per learner: keep the common ones
            self._untranslated[(language, search_filter)] = languages
        return list(languages)

    def has_copy_in(self, chunk: Chunk, language: str, search_filter: SearchFilter | None = None) -> bool:
        """Whether ``chunk``'s lesson has a translation in ``language`` that the filter admits.

        Like :meth:`is_live`, it reads the catalogue as the caller's last :meth:`refresh` left it (it is
        asked once per hit, and a refresh asks the store for the catalogue's generation).
        """
        group = self._translations.get((chunk.course_id, chunk.lesson_id))
        copies = self._copies.get(group, []) if group else []
        return any(
            c.language == language and (search_filter is None or search_filter.admits(c)) for c in copies
        )

    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index over live chunks."""
        self.refresh()
        assert self._keyword is not None
        return self._keyword

    @property
    def lesson_keyword(self) -> KeywordIndex:
        """The BM25 index over live lessons, each lesson one document; a hit is the lesson's first chunk."""
        self.refresh()
        assert self._lesson_keyword is not None
        return self._lesson_keyword


def _lesson_index(
    firsts: dict[tuple[str, str], Chunk], records: Sequence[Record], tokens: dict[str, list[str]]
) -> KeywordIndex:
    """BM25 over whole lessons: each lesson's chunks' tokens as one document (pages of no lesson left out).

    A lesson that uses the question's words throughout is better evidence than one lucky passage of a
    sibling; BM25's length normalisation keeps a long lesson from winning on size alone. A lesson's
    hit is its first chunk (``firsts``).
    """
    words: dict[tuple[str, str], list[str]] = {}
    for r in records:
        if r.chunk.lesson_id:
            words.setdefault((r.chunk.course_id, r.chunk.lesson_id), []).extend(tokens[r.record_id])
    return KeywordIndex([firsts[key] for key in words], tokens=list(words.values()))


def translation_groups(chunks: Sequence[Chunk]) -> dict[tuple[str, str], tuple[str, str]]:
    """Pair the lessons of courses that translate each other.

    A course says so in ``course.toml`` (``translation_of = "COURSE"``); the obvious case needs no word:
    two courses in different languages that share most lesson ids (a course repository's ``en`` and
    ``zh`` folders). Lessons pair by id; each pair maps to the original's key.

    Args:
        chunks: Live chunks (course, lesson, language and ``translation_of`` are read).

    Returns:
        ``{(course_id, lesson_id): (original course_id, lesson_id)}`` for both copies of each pair.
    """
    lessons: dict[str, set[str]] = {}
    language: dict[str, str] = {}
    declared: dict[str, str] = {}
    for chunk in chunks:
        if chunk.lesson_id:
            lessons.setdefault(chunk.course_id, set()).add(chunk.lesson_id)
        language[chunk.course_id] = chunk.language
        if chunk.translation_of:
            declared[chunk.course_id] = chunk.translation_of
    pairs = {(course, original) for course, original in declared.items() if original in lessons}
    courses = sorted(lessons)
    for i, a in enumerate(courses):
        for b in courses[i + 1 :]:
            if language[a] == language[b] or a in declared or b in declared:
                continue
            shared = len(lessons[a] & lessons[b])
            if shared >= 2 and shared >= 0.5 * min(len(lessons[a]), len(lessons[b])):
                pairs.add((b, a))
    groups: dict[tuple[str, str], tuple[str, str]] = {}
    for course, original in pairs:
        for lesson in lessons[course] & lessons[original]:
            groups[(course, lesson)] = groups[(original, lesson)] = (original, lesson)
    return groups
