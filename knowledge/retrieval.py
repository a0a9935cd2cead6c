"""Retrievers: dense (Chroma), keyword (BM25) and the two fused by reciprocal rank.

Each returns :class:`ScoredChunk` lists, best first, seeing only chunks of live lesson versions
and only what the :class:`SearchFilter` admits (premium filtering happens inside the index query).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from knowledge.chunking import index_text
from knowledge.embedders import Embedder
from knowledge.index import KeywordIndex, VectorIndex, tokenize
from knowledge.loaders import detect_language
from knowledge.models import Chunk, ScoredChunk, SearchFilter


class Retriever(Protocol):
    """Finds the passages most likely to answer a question."""

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best chunks for ``query``, best first."""
        ...


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
        self._kinds: set[tuple[str, str, bool]] = set()
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
            self._kinds = {(c.course_id, c.track, c.premium) for c in chunks}
            self._keyword = KeywordIndex(chunks, tokens=[tokens[r.record_id] for r in records])
            self._tokens = tokens  # records no longer live drop out
            self._seen = generation

    def narrowing(self, search_filter: SearchFilter | None) -> SearchFilter | None:
        """The filter, or ``None`` when it admits every live chunk (a filtered vector query is slower)."""
        if search_filter is None:
            return None
        probe = [
            Chunk("", "", course, "", "", "", "", "", track=track, premium=premium)
            for course, track, premium in self._kinds
        ]
        return None if all(search_filter.admits(c) for c in probe) else search_filter

    def is_live(self, chunk: Chunk, version: str) -> bool:
        """Whether a record belongs to the live version of its lesson."""
        return self._live.get((chunk.course_id, chunk.lesson_id)) == version

    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index over live chunks."""
        self.refresh()
        assert self._keyword is not None
        return self._keyword


class DenseRetriever:
    """Nearest neighbours of the question's embedding in the vector index."""

    def __init__(self, records: LiveRecords, embedder: Embedder) -> None:
        self.records = records
        self.embedder = embedder

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` most similar live chunks (cosine similarity as the score)."""
        self.records.refresh()
        vector = self.embedder.embed_query(query)
        # Records of a version being written (or left by a crash) are skipped; ask for more until
        # k live ones are found or the index has no more to give.
        wanted = k + 10
        search_filter = self.records.narrowing(search_filter)
        while True:
            hits = self.records.index.query(vector, wanted, search_filter)
            live = [(r.chunk, s) for r, s in hits if self.records.is_live(r.chunk, r.version)]
            if len(live) >= k or len(hits) < wanted:
                return [ScoredChunk(c, s, dense_score=s) for c, s in live[:k]]
            wanted *= 2


class KeywordRetriever:
    """BM25 over live chunks, with Chinese text segmented by jieba."""

    def __init__(self, records: LiveRecords) -> None:
        self.records = records

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best BM25 matches (raw BM25 as the score)."""
        hits = self.records.keyword.search(query, k, search_filter)
        return [ScoredChunk(c, s, keyword_score=s) for c, s in hits]


class FusedRetriever:
    """Dense and keyword results fused by weighted reciprocal rank (RRF).

    When the question's language differs from a passage's, keyword matches mean little (a Chinese
    question shares few words with an English lesson), so the keyword side's weight drops to
    ``cross_lingual_keyword_weight`` for such passages.

    Example:
        >>> FusedRetriever(dense, keyword).retrieve("what does a sensor do?", k=5)
    """

    def __init__(
        self,
        dense: DenseRetriever,
        keyword: KeywordRetriever,
        rrf_k: int = 60,
        depth: int = 50,
        keyword_weight: float = 1.5,
        cross_lingual_keyword_weight: float = 0.3,
    ) -> None:
        self.dense = dense
        self.keyword = keyword
        self.rrf_k = rrf_k
        self.depth = depth
        self.keyword_weight = keyword_weight
        self.cross_lingual_keyword_weight = cross_lingual_keyword_weight

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best chunks by fused rank; dense and keyword scores are kept for grounding."""
        dense, keyword = self._both(query, max(self.depth, k), search_filter)
        return self._fuse(query, dense, keyword)[:k]

    def lessons(
        self, query: str, n: int = 5, search_filter: SearchFilter | None = None
    ) -> list[tuple[str, str]]:
        """The ``n`` lessons that best answer ``query``, as ``(course_id, lesson_id)``.

        A lesson collects evidence from up to three of its chunks in each ranked list, so a lesson
        that answers the question in several places beats a sibling with one lucky passage.
        """
        dense, keyword = self._both(query, self.depth, search_filter)
        language = detect_language(query)
        weights = [1.0 if h.chunk.language == language else 0.0 for h in keyword]
        kw_weights = [self.keyword_weight if same else self.cross_lingual_keyword_weight for same in weights]
        return lesson_ranking([(dense, [1.0] * len(dense)), (keyword, kw_weights)])[:n]

    def _both(
        self, query: str, depth: int, search_filter: SearchFilter | None
    ) -> tuple[list[ScoredChunk], ...]:
        return (
            self.dense.retrieve(query, depth, search_filter),
            self.keyword.retrieve(query, depth, search_filter),
        )

    def _fuse(self, query: str, dense: list[ScoredChunk], keyword: list[ScoredChunk]) -> list[ScoredChunk]:
        query_language = detect_language(query)
        fused: dict[str, float] = {}
        chunks: dict[str, Chunk] = {}
        dense_scores: dict[str, float] = {}
        keyword_scores: dict[str, float] = {}
        for rank, hit in enumerate(dense):
            cid = hit.chunk.chunk_id
            chunks[cid] = hit.chunk
            dense_scores[cid] = hit.score
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        for rank, hit in enumerate(keyword):
            cid = hit.chunk.chunk_id
            chunks[cid] = hit.chunk
            keyword_scores[cid] = hit.score
            same = hit.chunk.language == query_language
            weight = self.keyword_weight if same else self.cross_lingual_keyword_weight
            fused[cid] = fused.get(cid, 0.0) + weight / (self.rrf_k + rank + 1)
        best = sorted(fused, key=lambda cid: -fused[cid])
        return [
            ScoredChunk(
                chunks[c], fused[c], dense_score=dense_scores.get(c), keyword_score=keyword_scores.get(c)
            )
            for c in best
        ]


def rank_lessons(hits: Sequence[ScoredChunk]) -> list[tuple[str, str]]:
    """Distinct ``(course_id, lesson_id)`` in the order their best chunk appears (no-lesson pages skipped)."""
    seen: list[tuple[str, str]] = []
    for hit in hits:
        key = (hit.chunk.course_id, hit.chunk.lesson_id)
        if hit.chunk.lesson_id and key not in seen:
            seen.append(key)
    return seen


def lesson_ranking(
    ranked_lists: Sequence[tuple[Sequence[ScoredChunk], Sequence[float]]], per_lesson: int = 3, rrf_k: int = 5
) -> list[tuple[str, str]]:
    """Fuse ranked chunk lists into a lesson ranking.

    Each list gives a lesson ``weight / (rrf_k + rank)`` for each of its first ``per_lesson`` chunks;
    pages that belong to no lesson are skipped.

    Args:
        ranked_lists: ``(chunks best first, a weight per chunk)`` for each retriever.
        per_lesson: How many chunks of one lesson count in each list.
        rrf_k: The reciprocal-rank constant (small: the top ranks matter most).
    """
    scores: dict[tuple[str, str], float] = {}
    for hits, weights in ranked_lists:
        counted: dict[tuple[str, str], int] = {}
        for rank, (hit, weight) in enumerate(zip(hits, weights, strict=True), start=1):
            key = (hit.chunk.course_id, hit.chunk.lesson_id)
            if not hit.chunk.lesson_id or counted.get(key, 0) >= per_lesson:
                continue
            counted[key] = counted.get(key, 0) + 1
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
    return sorted(scores, key=lambda key: -scores[key])
