"""Ingestion and retrieval with real Chroma and a real SQLite file; a hashing embedder replaces the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from bot.store import Store
from bot.testing import HashEmbedder
from knowledge import retrieval
from knowledge.chunking import Chunker
from knowledge.index import ChromaIndex, IndexMismatch
from knowledge.ingest import Ingestor
from knowledge.loaders import CourseOverrides, load_course
from knowledge.models import SearchFilter
from knowledge.retrieval import DenseRetriever, FusedRetriever, KeywordRetriever, LiveRecords

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


class Parts:
    def __init__(self, data: Path, embedder=None) -> None:
        self.store = Store(data / "db.sqlite")
        self.client = chromadb.PersistentClient(
            str(data / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.embedder = embedder or CountingEmbedder()
        self.index = ChromaIndex(self.client, self.embedder)
        self.ingestor = Ingestor(self.index, self.embedder, self.store, Chunker(400, 50))
        self.records = LiveRecords(self.index, self.store.lesson_versions, self.store.catalog_generation)
        self.retriever = FusedRetriever(
            DenseRetriever(self.records, self.embedder), KeywordRetriever(self.records)
        )


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        self.embedded = 0

    def embed_documents(self, texts):
        self.embedded += len(texts)
        return super().embed_documents(texts)


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    target = tmp_path / "course"
    shutil.copytree(SAMPLES / "security-basics", target)
    return target


def test_unchanged_course_embeds_nothing(tmp_path, course_dir):
    parts = Parts(tmp_path / "data")
    first = parts.ingestor.ingest(load_course(course_dir))
    assert first.chunks_embedded == first.chunks > 0
    second = parts.ingestor.ingest(load_course(course_dir))
    assert second.chunks_embedded == 0 and second.lessons_changed == 0
    assert parts.index.count() == first.chunks


def test_changed_lesson_is_replaced_and_removed_lesson_deleted(tmp_path, course_dir):
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(load_course(course_dir))
    mfa = course_dir / "03-mfa.md"
    mfa.write_text(
        mfa.read_text() + "\n\n## Hardware keys\n\nA zebracorn key is the strongest second factor.\n"
    )
    report = parts.ingestor.ingest(load_course(course_dir))
    assert report.lessons_changed == 1
    assert 0 < report.chunks_embedded < 5, "only the new text is embedded; the rest of the lesson is reused"
    hits = parts.retriever.retrieve("zebracorn", k=3)
    assert hits[0].chunk.lesson_id == "mfa"
    # remove a lesson from course.toml and its file
    toml = (course_dir / "course.toml").read_text()
    start = toml.index('[[lessons]]\nid = "incident-reporting"')
    (course_dir / "course.toml").write_text(toml[:start])
    (course_dir / "06-incident-reporting.md").unlink()
    report = parts.ingestor.ingest(load_course(course_dir))
    assert report.lessons_removed == 1
    assert all(r.chunk.lesson_id != "incident-reporting" for r in parts.index.records())
    assert ("security-basics", "incident-reporting") not in parts.store.lesson_versions()


def test_the_keyword_index_retokenises_only_changed_lessons(tmp_path, course_dir, monkeypatch):
    import knowledge.live as live

    tokenised: list[str] = []

    def counting(text: str) -> list[str]:
        tokenised.append(text)
        return real(text)

    real = live.tokenize
    monkeypatch.setattr(live, "tokenize", counting)
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(load_course(course_dir))
    assert parts.retriever.retrieve("phishing", k=1)
    first = len(tokenised)
    assert first == parts.index.count()
    mfa = course_dir / "03-mfa.md"
    mfa.write_text(
        mfa.read_text() + "\n\n## Hardware keys\n\nA zebracorn key is the strongest second factor.\n"
    )
    parts.ingestor.ingest(load_course(course_dir))
    assert parts.retriever.retrieve("zebracorn", k=1)[0].chunk.lesson_id == "mfa"
    changed = len(tokenised) - first
    mfa_chunks = sum(1 for r in parts.index.records() if r.chunk.lesson_id == "mfa")
    assert changed == mfa_chunks, "only the changed lesson's records are tokenised again"


def test_crash_mid_ingest_leaves_the_old_version_whole(tmp_path, course_dir):
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(load_course(course_dir))
    old_chunks = {r.chunk.chunk_id for r in parts.index.records() if r.chunk.lesson_id == "passwords"}
    lesson = course_dir / "02-passwords.md"
    lesson.write_text(lesson.read_text().replace("passphrase", "pass-sentence"))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed before the catalogue switched versions")

    parts.store.commit_course = crash  # the new records are written, the switch never happens
    with pytest.raises(KeyboardInterrupt):
        parts.ingestor.ingest(load_course(course_dir))
    assert parts.index.count() > len(old_chunks), "both versions' records are on disk"

    reopened = Parts(tmp_path / "data")
    for query in ("passphrase", "pass-sentence", "password manager"):
        hits = reopened.retriever.retrieve(query, k=100)
        seen = {h.chunk.chunk_id for h in hits if h.chunk.lesson_id == "passwords"}
        assert seen <= old_chunks, "only the old version is visible"
    keyword_view = {c.chunk_id for c in reopened.records.keyword.chunks if c.lesson_id == "passwords"}
    assert keyword_view == old_chunks, "the old version is visible whole"

    report = reopened.ingestor.ingest(load_course(course_dir))
    assert report.lessons_changed == 1
    live = reopened.store.lesson_versions()
    assert all(live[(r.chunk.course_id, r.chunk.lesson_id)] == r.version for r in reopened.index.records())
    assert any("pass-sentence" in h.chunk.text for h in reopened.retriever.retrieve("pass-sentence", k=5))


def test_premium_never_reaches_a_learner_who_is_not_entitled(tmp_path, course_dir):
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(
        load_course(course_dir, CourseOverrides(course_id="paid", track="pro", premium=True))
    )
    parts.ingestor.ingest(load_course(SAMPLES / "security-basics-zh"))
    free = SearchFilter(allow_premium=False)
    hits = parts.retriever.retrieve("phishing email report", k=20, search_filter=free)
    assert hits and all(not h.chunk.premium for h in hits)
    entitled = SearchFilter(allow_premium=False, premium_tracks=("pro",))
    assert any(h.chunk.premium for h in parts.retriever.retrieve("phishing email report", 20, entitled))
    only = SearchFilter(course_ids=("security-basics-zh",))
    assert {h.chunk.course_id for h in parts.retriever.retrieve("phishing", 20, only)} <= {
        "security-basics-zh"
    }


@pytest.mark.parametrize("k", [1, 3, 12])
@pytest.mark.parametrize("unfiltered_tries", [0, 2])  # 0: straight to the index's filtered query
def test_dense_search_filtered_in_memory_finds_what_the_index_filter_finds(
    tmp_path, course_dir, k, unfiltered_tries, monkeypatch
):
    """Dense search asks the index for the nearest ids and filters them in memory; however few chunks
    a filter admits, it finds chunks as near as the index's own filtered query finds."""
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(
        load_course(course_dir, CourseOverrides(course_id="paid", track="pro", premium=True))
    )
    parts.ingestor.ingest(load_course(SAMPLES / "security-basics-zh"))
    monkeypatch.setattr(retrieval, "_UNFILTERED_TRIES", unfiltered_tries)
    dense = DenseRetriever(parts.records, parts.embedder)
    vector = parts.embedder.embed_query("how do I report a phishing email")
    for search_filter in (
        None,
        SearchFilter(allow_premium=False),
        SearchFilter(course_ids=("paid",)),
        SearchFilter(course_ids=("security-basics-zh",), languages=("zh",)),
    ):
        got = dense.retrieve("how do I report a phishing email", k=k, search_filter=search_filter)
        expected = parts.index.query(vector, k, search_filter)
        # the same similarities (chunks that tie may come in either order), all admitted
        assert [round(h.score, 5) for h in got] == [round(score, 5) for _, score in expected]
        assert all(search_filter is None or search_filter.admits(h.chunk) for h in got)


def test_querying_with_another_embedder_names_reindex(tmp_path, course_dir):
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(load_course(course_dir))

    class Other(HashEmbedder):
        name = "other"

    with pytest.raises(IndexMismatch, match="learnbot reindex"):
        ChromaIndex(parts.client, Other())


def test_remove_course(tmp_path, course_dir):
    parts = Parts(tmp_path / "data")
    parts.ingestor.ingest(load_course(course_dir))
    assert parts.ingestor.remove("security-basics") is True
    assert parts.index.count() == 0
    assert parts.retriever.retrieve("phishing", k=5) == []


def test_keyword_scores_are_rank_bm25s_over_the_sparse_matrix():
    """The sparse BM25 gives rank-bm25's own scores: repeated, unknown, common and Chinese terms."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    from knowledge.keyword import KeywordIndex
    from knowledge.models import Chunk
    from knowledge.text import tokenize

    texts = [
        "A sensor reads the world; an actuator changes it. Sensors send readings over MQTT.",
        "MQTT brokers route messages between devices and the cloud.",
        "Soil moisture sensors measure water in the soil, then the relay turns the pump on.",
        "传感器读取环境数据，执行器改变环境。MQTT 代理在设备之间传递消息。",
        "the the the the",  # a term in most chunks gets rank-bm25's floored idf
        "the relay and the pump",
        "",
    ]
    chunks = [
        Chunk(f"c{i}", text, "course", f"l{i}", f"Lesson {i}", "", "lesson.md", "zh" if i == 3 else "en")
        for i, text in enumerate(texts)
    ]
    index = KeywordIndex(chunks)
    reference = BM25Okapi([tokenize(t) for t in texts])
    for query in [
        "what does a sensor do",
        "MQTT mqtt broker messages",  # a repeated term counts twice, as in rank-bm25
        "the pump relay",
        "传感器 执行器",
        "quantum chromodynamics",  # no known term: every score is 0 and nothing is returned
    ]:
        terms = tokenize(query)
        assert np.allclose(index.scores(terms), reference.get_scores(terms)), query
        best = index.search(query, 3)
        expected = [i for i in np.argsort(-reference.get_scores(terms), kind="stable")[:3]]
        assert [c.chunk_id for c, _ in best] == [
            f"c{i}" for i in expected if reference.get_scores(terms)[i] > 0
        ], query
    assert index.document_frequency("mqtt") == 3 / 7 and index.document_frequency("zzz") == 0.0


def test_records_of_a_stopped_ingestion_are_removed_by_the_next_ingestion_of_any_course(tmp_path, course_dir):
    """Issue 14 row 10: a killed ingest left orphan vectors that only a re-ingest of that course removed."""
    import socket

    parts = Parts(tmp_path / "data")
    commit = parts.store.commit_course
    parts.store.commit_course = lambda *a: (_ for _ in ()).throw(KeyboardInterrupt("killed"))
    with pytest.raises(KeyboardInterrupt):
        parts.ingestor.ingest(load_course(course_dir))
    parts.store.commit_course = commit
    orphans = parts.index.count()
    assert orphans > 0 and not parts.store.lesson_versions()
    # the killed run's process is gone (a pid that cannot exist on this machine)
    parts.store.set_setting("gc_pending", f"security-basics\t{socket.gethostname()}:99999999")
    other = tmp_path / "other"
    other.mkdir()
    (other / "01-intro.md").write_text("# Intro\n\nA zebracorn is a small course.\n", encoding="utf-8")
    report = parts.ingestor.ingest(load_course(other))
    assert report.orphans_removed == orphans
    assert {r.chunk.course_id for r in parts.index.records()} == {report.course_id}
