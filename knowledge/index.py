"""The chunk index: vectors in Chroma (BM25 over the same records is :mod:`knowledge.keyword`).

Every record carries the content version of its lesson. New versions are written next to the old
ones, the catalogue switches the current version in one SQLite transaction, and only then are the
old records deleted; readers only see records whose version is current. A crash at any point
therefore leaves each lesson wholly old or wholly new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from knowledge.embedders import Embedder
from knowledge.models import Chunk, SearchFilter

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

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ids of the ``k`` nearest records, unfiltered, with cosine similarity (inner product)."""
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

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ids of the ``k`` nearest records, unfiltered, with cosine similarity (inner product).

        Several times faster than :meth:`query`: Chroma neither applies a metadata filter nor reads
        texts back, so a caller that holds the live records in memory filters and looks them up there.
        """
        if k <= 0:
            return []
        got = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=k, include=["distances"]
        )
        pairs = zip(got["ids"][0], got["distances"][0], strict=True)
        return [(rid, 1.0 - float(dist)) for rid, dist in pairs]

    def count(self) -> int:
        """How many records are stored."""
        return self._collection.count()


def _record(rid: str, text: str, meta: dict[str, Any]) -> Record:
    return Record(rid, Chunk.from_metadata(meta["chunk_id"], text, meta), meta.get("version", ""))


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
