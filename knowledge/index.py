"""The chunk index: vectors in Chroma, and an in-memory BM25 keyword index built from the same records.

Every record carries the content version of its lesson. New versions are written next to the old
ones, the catalogue switches the current version in one SQLite transaction, and only then are the
old records deleted; readers only see records whose version is current. A crash at any point
therefore leaves each lesson wholly old or wholly new.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import jieba
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from scipy import sparse

from knowledge.embedders import Embedder
from knowledge.models import Chunk, SearchFilter
from knowledge.text import CJK

COLLECTION = "learnbot_chunks"
_PAGE = 2000


class IndexMismatch(Exception):
    """The index was built by another embedder than the one asked for."""


@dataclass(frozen=True)
class Record:
    """A chunk as stored in the index, with the version of the lesson it belongs to."""

    record_id: str
    chunk: Chunk
    version: str


def record_id(chunk_id: str, version: str) -> str:
    """The index id of a chunk in one lesson version."""
    return f"{chunk_id}@{version[:16]}"


class _ChromaEmbedding(EmbeddingFunction[Documents]):
    """Hands Chroma our embedder, so a collection never falls back to a model it would download."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - Chroma's signature
        return list(self._embedder.embed_documents(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:  # noqa: A002
        return [self._embedder.embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "learnbot"

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _ChromaEmbedding:
        from knowledge.embedders import make_embedder

        return _ChromaEmbedding(make_embedder(config["embedder"]))

    def is_legacy(self) -> bool:
        return False


class VectorIndex(Protocol):
    """Where chunk vectors live. ``ChromaIndex`` is the implementation; tests may use others."""

    embedder_name: str

    def add(self, records: Sequence[Record], vectors: np.ndarray) -> None:
        """Insert or replace records with their vectors."""
        ...

    def delete(self, record_ids: Sequence[str]) -> None:
        """Remove records by id (unknown ids are ignored)."""
        ...

    def vectors(self, record_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the records that exist among ``record_ids``."""
        ...

    def records(self, course_id: str | None = None) -> Iterable[Record]:
        """Every stored record (of one course, when given)."""
        ...

    def query(
        self, vector: np.ndarray, k: int, search_filter: SearchFilter | None
    ) -> list[tuple[Record, float]]:
        """The ``k`` nearest records passing the filter, with cosine similarity (inner product)."""
        ...

    def count(self) -> int:
        """How many records are stored."""
        ...


class ChromaIndex:
    """Chunk vectors in a Chroma collection (embedded ``PersistentClient`` or a Chroma server).

    The collection's metadata records the embedder that built it; opening it with another
    embedder raises :class:`IndexMismatch`.

    Example:
        >>> index = ChromaIndex(chromadb.PersistentClient("data/chroma"), embedder)
    """

    def __init__(self, client: Any, embedder: Embedder, collection: str = COLLECTION) -> None:
        self.client = client
        self.embedder_name = embedder.name
        self._name = collection
        self._recover_interrupted_reindex()
        built_by = self.built_by(client, collection)
        if built_by is not None and built_by != embedder.name:
            raise IndexMismatch(
                f"the index was built with the '{built_by}' embedder, not '{embedder.name}'; "
                f"run `learnbot reindex --embedder {embedder.name}` to rebuild it, "
                f"or set LEARNBOT_EMBEDDER={built_by}"
            )
        self._collection = client.get_or_create_collection(
            collection,
            embedding_function=_ChromaEmbedding(embedder),
            metadata={"embedder": embedder.name, "dimension": embedder.dimension},
            # An embedder whose parts are unit vectors side by side asks for inner product: each part's
            # query then scores exactly that model's cosine similarity.
            configuration={"hnsw": {"space": getattr(embedder, "space", "cosine")}},
        )

    @staticmethod
    def built_by(client: Any, collection: str = COLLECTION) -> str | None:
        """Which embedder built the collection, or ``None`` when there is none yet."""
        names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        if collection not in names:
            return None
        return (client.get_collection(collection).metadata or {}).get("embedder")

    def _recover_interrupted_reindex(self) -> None:
        names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        staging = f"{self._name}__reindex"
        if staging in names and self._name not in names:  # crashed between delete and rename
            self.client.get_collection(staging).modify(name=self._name)

    def add(self, records: Sequence[Record], vectors: np.ndarray) -> None:
        """Insert or replace records with their vectors."""
        for start in range(0, len(records), _PAGE):
            batch = records[start : start + _PAGE]
            self._collection.upsert(
                ids=[r.record_id for r in batch],
                documents=[r.chunk.text for r in batch],
                metadatas=[
                    {**r.chunk.metadata(), "chunk_id": r.chunk.chunk_id, "version": r.version} for r in batch
                ],
                embeddings=np.asarray(vectors[start : start + _PAGE], dtype=np.float32),
            )

    def delete(self, record_ids: Sequence[str]) -> None:
        """Remove records by id."""
        ids = list(record_ids)
        for start in range(0, len(ids), _PAGE):
            self._collection.delete(ids=ids[start : start + _PAGE])

    def vectors(self, record_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the records that exist among ``record_ids``."""
        found: dict[str, np.ndarray] = {}
        ids = list(record_ids)
        for start in range(0, len(ids), _PAGE):
            got = self._collection.get(ids=ids[start : start + _PAGE], include=["embeddings"])
            found.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
        return found

    def records(self, course_id: str | None = None) -> Iterable[Record]:
        """Every stored record, page by page."""
        where = {"course_id": course_id} if course_id is not None else None
        offset = 0
        while True:
            got = self._collection.get(
                where=where, limit=_PAGE, offset=offset, include=["documents", "metadatas"]
            )
            for rid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield _record(rid, text, meta)
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    def query(
        self, vector: np.ndarray, k: int, search_filter: SearchFilter | None
    ) -> list[tuple[Record, float]]:
        """The ``k`` nearest records passing the filter, with cosine similarity (inner product)."""
        if k <= 0:
            return []
        where = search_filter.where() if search_filter else None
        got = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (_record(rid, text, meta), 1.0 - float(dist))
            for rid, text, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
            )
        ]

    def count(self) -> int:
        """How many records are stored."""
        return self._collection.count()


def _record(rid: str, text: str, meta: dict[str, Any]) -> Record:
    return Record(rid, Chunk.from_metadata(meta["chunk_id"], text, meta), meta.get("version", ""))


# -- keyword search ---------------------------------------------------------------------------

jieba.setLogLevel(logging.WARNING)
_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[\u3400-\u9fff]+")
STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too very s t can
    will just don should now is are was were be been being have has had having do does did doing i me my we
    our you your he him his she her it its they them their what which who whom this that these those am
    would could also may might must shall
    的 了 是 在 和 与 或 也 都 就 而 及 以 之 其 这 那 个 们 吗 呢 吧 啊
    什么 怎么 如何 为什么 哪些 哪个 一个 可以
    能 会 要 把 被 对 从 向 到 中 上 下 为 有 没有 不 我 你 他 她 它 我们 你们 他们
    下列 以下 哪 哪一项 哪一个 哪种 哪项 哪里 怎样 怎么样 是否 还是 应该 应当 需要 正确 错误 选项 请问 关于
    一下 多少 几个 时候 时 后 前 最 更""".split()
)


def _stem(word: str) -> str:
    """A light English suffix stripper: enough to match plural and -ing/-ed forms."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)] + replacement
            break
    # "measure", "measures", "measured" and "measuring" all become "measur".
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens for BM25; Chinese runs are segmented with jieba (search mode)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if CJK.match(word):
            tokens.extend(w for w in jieba.lcut_for_search(word) if w not in STOPWORDS)
        elif word not in STOPWORDS:
            tokens.append(_stem(word))
    return tokens


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
        present = self._weights[:, [self._terms[t] for t in known]].tocsr() if known else None
        shares = []
        for chunk in chunks:
            row = self._rows.get(chunk.chunk_id)
            if row is None or present is None:
                shares.append(0.0)
                continue
            held = present[row].indices
            shares.append(sum(weights[known[j]] for j in held) / total)
        return shares

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


def rebuild(
    client: Any,
    embedder: Embedder,
    records: Sequence[Record],
    progress: Any = None,
    batch_size: int = 64,
    collection: str = COLLECTION,
) -> ChromaIndex:
    """Re-embed ``records`` with ``embedder`` into a fresh collection that then replaces the old one.

    The new collection is filled under a staging name first; the old one is dropped only when the
    new one is complete (an interrupted swap is finished the next time the index is opened).
    """
    from knowledge.chunking import index_text

    staging = f"{collection}__reindex"
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    if staging in names:
        client.delete_collection(staging)
    new = ChromaIndex(client, embedder, collection=staging)
    for start in range(0, len(records), batch_size):
        batch = list(records[start : start + batch_size])
        new.add(batch, embedder.embed_documents([index_text(r.chunk) for r in batch]))
        if progress:
            progress(min(start + batch_size, len(records)), len(records))
    if collection in names:
        client.delete_collection(collection)
    client.get_collection(staging).modify(name=collection)
    return ChromaIndex(client, embedder, collection=collection)
