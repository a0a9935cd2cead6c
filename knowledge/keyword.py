"""BM25 keyword search over chunks, with the same filters as the vector index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cached_property

import numpy as np
from scipy import sparse

from knowledge.models import Chunk, SearchFilter
from knowledge.text import tokenize


class KeywordIndex:
    """BM25 (rank-bm25's Okapi variant) over chunk texts, with the same filters as the vector index.

    rank-bm25 fits the model (term frequencies, idf with its floor, document lengths); its
    ``get_scores`` then walks every document in Python for each query term, about 0.2 s per
    question at 100,000 chunks. So each term's BM25 contribution to each chunk is computed once,
    into a sparse chunk x term matrix, and a question sums the columns of its terms: the same
    scores, touching only the chunks that hold a query term.

    Example:
        >>> index = KeywordIndex(chunks)
        >>> index.search("what is mqtt", k=5)
    """

    def __init__(self, chunks: Sequence[Chunk], tokens: Sequence[list[str]] | None = None) -> None:
        """Index ``chunks`` by their :func:`tokenize` ``tokens`` (default: their text's)."""
        self.chunks = list(chunks)
        corpus = list(tokens) if tokens is not None else [tokenize(c.text) for c in self.chunks]
        self._terms: dict[str, int] = {}
        self._weights: sparse.csc_matrix | None = None
        self._chunks_with = np.zeros(0, dtype=np.int64)
        if any(corpus):
            self._weights = self._fit(corpus)
            self._chunks_with = np.diff(self._weights.indptr)

    def _fit(self, corpus: list[list[str]]) -> sparse.csc_matrix:
        """The chunk x term matrix of BM25 contributions, from rank-bm25's fitted Okapi model."""
        from rank_bm25 import BM25Okapi

        bm25 = BM25Okapi(corpus)
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for row, frequencies in enumerate(bm25.doc_freqs):
            for term, count in frequencies.items():
                rows.append(row)
                columns.append(self._terms.setdefault(term, len(self._terms)))
                counts.append(count)
        tf = np.asarray(counts, dtype=np.float64)
        length = np.asarray(bm25.doc_len, dtype=np.float64)[rows]
        idf = np.asarray([bm25.idf[t] for t in self._terms], dtype=np.float64)[columns]
        k1, b = bm25.k1, bm25.b
        weights = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / bm25.avgdl))
        return sparse.csc_matrix((weights, (rows, columns)), shape=(len(corpus), len(self._terms)))

    def document_frequency(self, term: str) -> float:
        """Share of chunks that contain ``term`` (0 for an unknown term)."""
        column = self._terms.get(term)
        return 0.0 if column is None else int(self._chunks_with[column]) / max(len(self.chunks), 1)

    def co_frequency(self, terms: Sequence[str]) -> float:
        """Share of chunks that contain every one of ``terms`` (a phrase's words in one chunk).

        A translated phrase ("income tax") is known to the course only where its words stand together;
        each word alone ("income", "tax") may turn up somewhere in any large course.
        """
        columns = [self._terms.get(t) for t in dict.fromkeys(terms)]
        if not columns or None in columns or self._weights is None:
            return 0.0
        held: set[int] | None = None
        for column in columns:
            start, end = self._weights.indptr[column], self._weights.indptr[column + 1]
            rows = set(self._weights.indices[start:end].tolist())
            held = rows if held is None else held & rows
        return len(held or ()) / max(len(self.chunks), 1)

    def size(self) -> int:
        """How many chunks are indexed."""
        return len(self.chunks)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query ``terms`` (rank-bm25's ``get_scores``)."""
        if self._weights is None:
            return np.zeros(len(self.chunks))
        counts = Counter(self._terms[t] for t in terms if t in self._terms)
        if not counts:
            return np.zeros(len(self.chunks))
        columns = list(counts)
        repeat = np.fromiter(counts.values(), dtype=np.float64, count=len(columns))
        return np.asarray(self._weights[:, columns] @ repeat).ravel()

    def grouped_scores(self, groups: Sequence[Sequence[Sequence[str]]]) -> np.ndarray:
        """BM25 of every chunk for a query of alternatives (a translated question).

        Each group is one source word's renderings, each a list of terms; a chunk scores a group by its
        best rendering (the sum of that rendering's terms), and the groups' scores add up.
        """
        total = np.zeros(len(self.chunks))
        for renderings in groups:
            best = np.zeros(len(self.chunks))
            for terms in renderings:
                best = np.maximum(best, self.scores(terms))
            total += best
        return total

    @cached_property
    def _rows(self) -> dict[str, int]:
        """Each chunk's row in the matrix, by chunk id (built on the first coverage question)."""
        return {c.chunk_id: i for i, c in enumerate(self.chunks)}

    def coverage(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        """For each chunk, the IDF-weighted share of the query's terms it contains (0-1).

        BM25 ranks a chunk first that shares one term with the question when nothing shares more;
        this tells such a lone match from a passage that holds most of what was asked.
        """
        terms = set(tokenize(query))
        weights = {t: -np.log(max(self.document_frequency(t), 1.0 / max(len(self.chunks), 1))) for t in terms}
        total = sum(weights.values())
        if self._weights is None or not total:
            return [0.0] * len(chunks)
        known = [t for t in terms if t in self._terms]
        rows = np.asarray([self._rows.get(c.chunk_id, -1) for c in chunks], dtype=np.int64)
        shares = np.zeros(len(chunks))
        indexed = rows >= 0
        if known and indexed.any():
            # one slice of the matrix for all chunks: each stored entry means "the chunk holds the term"
            held = self._weights[:, [self._terms[t] for t in known]].tocsr()[rows[indexed]]
            held.data = np.ones_like(held.data)
            shares[indexed] = held @ np.asarray([weights[t] for t in known]) / total
        return shares.tolist()

    def search(
        self, query: str, k: int, search_filter: SearchFilter | None = None
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` best-scoring chunks passing the filter (only chunks sharing a query term)."""
        terms = tokenize(query)
        if not terms or k <= 0:
            return []
        return self._best(self.scores(terms), k, search_filter)

    def search_groups(
        self, groups: Sequence[Sequence[Sequence[str]]], k: int, search_filter: SearchFilter | None = None
    ) -> list[tuple[Chunk, float]]:
        """Like :meth:`search`, for a query of alternatives (see :meth:`grouped_scores`)."""
        if not groups or k <= 0:
            return []
        return self._best(self.grouped_scores(groups), k, search_filter)

    def _best(
        self, scores: np.ndarray, k: int, search_filter: SearchFilter | None
    ) -> list[tuple[Chunk, float]]:
        matched = np.flatnonzero(scores > 0)
        results: list[tuple[Chunk, float]] = []
        for i in matched[np.argsort(-scores[matched], kind="stable")]:
            if len(results) >= k:
                break
            chunk = self.chunks[i]
            if search_filter is None or search_filter.admits(chunk):
                results.append((chunk, float(scores[i])))
        return results
