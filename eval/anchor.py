"""The plain anchor pipeline that every retrieval change is measured against, in the same run.

Nothing in it is tuned: 1,000-character chunks with 150 characters of overlap (LangChain's recursive
splitter over each lesson's text), BM25 (rank-bm25 over the product's tokenizer), MiniLM and USE by
brute-force cosine similarity, and pairs of them fused by reciprocal rank (k = 60). Lessons are ranked
by the first appearance of one of their chunks. It sees the same catalogue as the product, unfiltered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter
from rank_bm25 import BM25Okapi

from knowledge.embedders import MiniLMEmbedder, USEEmbedder
from knowledge.models import Course
from knowledge.text import tokenize


@dataclass(frozen=True)
class AnchorChunk:
    """One 1,000-character piece of a lesson."""

    course_id: str
    lesson_id: str
    text: str


class AnchorPipeline:
    """BM25, MiniLM and USE over plain chunks, alone and fused in pairs.

    Example:
        >>> anchor = AnchorPipeline([course_en, course_zh])
        >>> anchor.lessons("What does a sensor do?", "BM25 + MiniLM")[:1]
        [('iot-en', '1-getting-started/lessons/3-sensors-and-actuators')]
    """

    METHODS = ("BM25", "MiniLM", "USE", "BM25 + MiniLM", "BM25 + USE", "MiniLM + USE")

    def __init__(self, courses: Sequence[Course], chunk_size: int = 1000, overlap: int = 150) -> None:
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
        self.chunks = [
            AnchorChunk(course.course_id, lesson.lesson_id, piece)
            for course in courses
            for lesson in course.lessons
            if lesson.lesson_id
            for source in lesson.sources
            for piece in splitter.split_text(source.text)
        ]
        texts = [c.text for c in self.chunks]
        self.bm25 = BM25Okapi([tokenize(t) or ["\0"] for t in texts])
        self.models = {"MiniLM": MiniLMEmbedder(), "USE": USEEmbedder()}
        self.vectors = {name: model.embed_documents(texts) for name, model in self.models.items()}

    def _key(self, i: int) -> tuple[str, str]:
        return (self.chunks[i].course_id, self.chunks[i].lesson_id)

    def _ranking(self, query: str, method: str) -> list[int]:
        if method == "BM25":
            return list(np.argsort(-self.bm25.get_scores(tokenize(query)), kind="stable"))
        model = self.models[method]
        return list(np.argsort(-(self.vectors[method] @ model.embed_query(query)), kind="stable"))

    def lessons(
        self, query: str, method: str, allowed: set[tuple[str, str]] | None = None
    ) -> list[tuple[str, str]]:
        """Lessons in the order their first chunk appears in the method's ranking.

        Args:
            query: The question.
            method: One of :attr:`METHODS`.
            allowed: The lessons of a smaller catalogue (others are skipped); ``None``: all.
        """
        parts = method.split(" + ")
        if len(parts) == 1:
            order = self._ranking(query, method)
        else:
            fused: dict[int, float] = {}
            for part in parts:
                ranking = [
                    i for i in self._ranking(query, part) if allowed is None or self._key(i) in allowed
                ]
                for rank, i in enumerate(ranking[:100]):
                    fused[i] = fused.get(i, 0.0) + 1.0 / (60 + rank + 1)
            order = sorted(fused, key=lambda i: -fused[i])
        seen: list[tuple[str, str]] = []
        for i in order:
            key = (self.chunks[i].course_id, self.chunks[i].lesson_id)
            if allowed is not None and key not in allowed:
                continue
            if key not in seen:
                seen.append(key)
            if len(seen) >= 10:
                break
        return seen
