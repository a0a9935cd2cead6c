"""Fusing ranked lists of chunks: by chunk (reciprocal rank) and by lesson.

Every retriever returns its rankings as ``(chunks best first, a weight per chunk)``; these functions
turn several of them into one order of chunks or of lessons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from knowledge.models import Chunk, ScoredChunk

Ranking = tuple[list[ScoredChunk], list[float]]
"""One ranking to fuse: hits best first, and a weight per hit."""


@dataclass
class Rankings:
    """What one question's retrieval fuses.

    Attributes:
        passages: Rankings of passages: they order passages and give lessons credit.
        lessons: Rankings of whole lessons (a hit stands for its lesson): they only order lessons.
    """

    passages: list[Ranking] = field(default_factory=list)
    lessons: list[Ranking] = field(default_factory=list)

    def extend(self, other: Rankings) -> None:
        """Add ``other``'s rankings to these."""
        self.passages += other.passages
        self.lessons += other.lessons


def fuse_chunks(
    lists: Sequence[tuple[Sequence[ScoredChunk], Sequence[float]]], rrf_k: int = 60
) -> list[ScoredChunk]:
    """Chunks of several rankings by weighted reciprocal rank, best first; dense and keyword scores kept."""
    fused: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    dense: dict[str, float] = {}
    keyword: dict[str, float] = {}
    for hits, weights in lists:
        for rank, (hit, weight) in enumerate(zip(hits, weights, strict=True)):
            cid = hit.chunk.chunk_id
            chunks[cid] = hit.chunk
            if hit.dense_score is not None:
                dense[cid] = max(dense.get(cid, -1.0), hit.dense_score)
            if hit.keyword_score is not None:
                keyword[cid] = hit.keyword_score
            fused[cid] = fused.get(cid, 0.0) + weight / (rrf_k + rank + 1)
    return [
        ScoredChunk(chunks[c], fused[c], dense_score=dense.get(c), keyword_score=keyword.get(c))
        for c in sorted(fused, key=lambda c: -fused[c])
    ]


def rank_lessons(hits: Sequence[ScoredChunk]) -> list[tuple[str, str]]:
    """Distinct ``(course_id, lesson_id)`` in the order their best chunk appears (no-lesson pages skipped)."""
    seen: list[tuple[str, str]] = []
    for hit in hits:
        key = (hit.chunk.course_id, hit.chunk.lesson_id)
        if hit.chunk.lesson_id and key not in seen:
            seen.append(key)
    return seen


def lesson_scores(
    ranked_lists: Sequence[tuple[Sequence[ScoredChunk], Sequence[float]]],
    per_lesson: int = 3,
    rrf_k: int = 5,
    key: Callable[[Chunk], tuple[str, str]] | None = None,
) -> dict[tuple[str, str], float]:
    """Each lesson's evidence from several ranked chunk lists.

    Each list gives a lesson ``weight / (rrf_k + rank)`` for its best chunk, half that for the next,
    and so on for its first ``per_lesson`` chunks.

    Args:
        ranked_lists: ``(chunks best first, a weight per chunk)`` for each retriever.
        per_lesson: How many chunks of one lesson count in each list.
        rrf_k: The reciprocal-rank constant (small: the top ranks matter most).
        key: The candidate a chunk counts for; by default its lesson, and pages of no lesson are skipped.
    """
    scores: dict[tuple[str, str], float] = {}
    for hits, weights in ranked_lists:
        counted: dict[tuple[str, str], int] = {}
        for rank, (hit, weight) in enumerate(zip(hits, weights, strict=True), start=1):
            if key is None and not hit.chunk.lesson_id:
                continue
            name = key(hit.chunk) if key else (hit.chunk.course_id, hit.chunk.lesson_id)
            if counted.get(name, 0) >= per_lesson:
                continue
            # Each further chunk of a lesson adds half as much as the one before: several passages are
            # better evidence than one, but three weak ones must not outweigh one exact match.
            scores[name] = scores.get(name, 0.0) + weight * 0.5 ** counted.get(name, 0) / (rrf_k + rank)
            counted[name] = counted.get(name, 0) + 1
    return scores


def lesson_ranking(
    ranked_lists: Sequence[tuple[Sequence[ScoredChunk], Sequence[float]]], per_lesson: int = 3, rrf_k: int = 5
) -> list[tuple[str, str]]:
    """Lessons by :func:`lesson_scores`, best first (pages that belong to no lesson are skipped)."""
    scores = lesson_scores(ranked_lists, per_lesson, rrf_k)
    return sorted(scores, key=lambda key: -scores[key])
