"""Retrieval latency against index size: 1k, 10k, 100k chunks, dense, keyword and fused.

Synthetic chunks stand in for a large catalogue: each is a real course chunk with its sentences
shuffled among chunks of the same lesson group (so the words, their frequencies and the text lengths
are those of real material), and its vector is the real chunk's vector with a little noise (so the
neighbourhood structure is that of real embeddings). Nothing is embedded but the queries, so 100k
chunks take a minute to build, not ten. The retrievers are the bot's own over a real Chroma index.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import chromadb
import numpy as np

from eval.common import console, progress
from knowledge.index import ChromaIndex, Record
from knowledge.models import Chunk
from knowledge.retrieval import DenseRetriever, FusedRetriever, KeywordRetriever, LiveRecords

_SENTENCE = ". "
BUILD = "keyword index build"


def synthetic(
    chunks: list[Chunk], vectors: np.ndarray, size: int, seed: int = 0
) -> tuple[list[Record], np.ndarray]:
    """``size`` records made from ``chunks`` (sentences reshuffled) and noisy copies of their vectors."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    records, rows = [], []
    for n in range(size):
        base = n % len(chunks)
        source = chunks[base]
        neighbour = chunks[(base + rng.randrange(1, 8)) % len(chunks)]
        sentences = source.text.split(_SENTENCE) + neighbour.text.split(_SENTENCE)
        rng.shuffle(sentences)
        text = _SENTENCE.join(sentences[: max(len(sentences) // 2, 1)])
        lesson = f"lesson-{n // 40}"
        chunk = Chunk(
            f"s{n}", text, "synthetic", lesson, source.lesson_title, source.heading, "s.md", "en", position=n
        )
        records.append(Record(f"s{n}@v1", chunk, "v1"))
        rows.append(n % len(chunks))
    jitter = noise.normal(0, 0.03, size=(size, vectors.shape[1])).astype(np.float32)
    matrix = vectors[rows] + jitter
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return records, matrix


def measure(
    embedder,
    chunks: list[Chunk],
    vectors: np.ndarray,
    sizes: list[int],
    queries: list[str],
    work: Path,  # noqa: ANN001
) -> dict[int, dict[str, tuple[float, float]]]:
    """p50 / p95 latency (ms) of each retriever at each size, k=5.

    Under :data:`BUILD`, each size also holds the seconds to build the keyword index and to rebuild
    it after a catalogue change (records read again, their tokens reused).
    """
    results: dict[int, dict[str, tuple[float, float]]] = {}
    for size in sizes:
        records, matrix = synthetic(chunks, vectors, size)
        client = chromadb.PersistentClient(str(work / f"scale-{size}"))
        index = ChromaIndex(client, embedder, collection=f"scale{size}")
        with progress() as bar:
            task = bar.add_task(f"build {size:,} synthetic chunks", total=size)
            for start in range(0, size, 2000):
                index.add(records[start : start + 2000], matrix[start : start + 2000])
                bar.update(task, completed=min(start + 2000, size))
        lessons = {(r.chunk.course_id, r.chunk.lesson_id): "v1" for r in records}
        generation = ["first"]
        live = LiveRecords(
            index, lambda lessons=lessons: lessons, lambda generation=generation: generation[0]
        )
        started = time.perf_counter()
        live.refresh()
        built = time.perf_counter() - started
        generation[0] = "another lesson ingested"  # the catalogue changed: a rebuild that reuses tokens
        started = time.perf_counter()
        live.refresh()
        rebuilt = time.perf_counter() - started
        console.print(f"{size:,} chunks: keyword index built in {built:.1f} s, rebuilt in {rebuilt:.1f} s")
        dense, keyword = DenseRetriever(live, embedder), KeywordRetriever(live)
        retrievers = {"dense": dense, "keyword": keyword, "fused": FusedRetriever(dense, keyword)}
        results[size] = {BUILD: (built, rebuilt)}
        for name, retriever in retrievers.items():
            retriever.retrieve("warm up", k=5)
            latencies = []
            for query in queries:
                began = time.perf_counter()
                retriever.retrieve(query, k=5)
                latencies.append((time.perf_counter() - began) * 1000)
            results[size][name] = (float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95)))
        del client, index, live
    return results


def plot(results: dict[int, dict[str, tuple[float, float]]], path: Path) -> Path:
    """Latency (p50 solid, p95 dashed) against index size, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("dense", "keyword", "fused"):
        line = ax.plot(sizes, [results[s][name][0] for s in sizes], marker="o", label=f"{name} p50")
        ax.plot(
            sizes,
            [results[s][name][1] for s in sizes],
            linestyle="--",
            color=line[0].get_color(),
            label=f"{name} p95",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("latency per query, ms (k=5)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
