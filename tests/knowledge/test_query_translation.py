"""Questions translated by the answer model to reach lessons with no copy in their language (issue 12).

Real Chroma, SQLite and BM25; a hashing embedder and a scripted chat model stand in at the seams.
"""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from bot.store import Store
from bot.testing import HashEmbedder
from knowledge.chunking import Chunker
from knowledge.generation.deadline import AnswerLine
from knowledge.index import ChromaIndex
from knowledge.ingest import Ingestor
from knowledge.loaders import load_course
from knowledge.models import SearchFilter
from knowledge.query_translation import QueryTranslator
from knowledge.retrieval import DenseRetriever, FusedRetriever, KeywordRetriever, LiveRecords

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
# "I did not follow this lesson, can you explain again?": no word names the topic
VAGUE = "这一课我没看懂，能再讲讲吗？"
MEANT = "Why should I lock my screen when working from a cafe?"


class ScriptedModel:
    """A chat model that answers every request with one reply and records what it was asked."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.asked: list[str] = []

    def chat(self, messages, max_new_tokens=None, prefix="", stop=()):  # noqa: ANN001
        self.asked.append(messages[-1].content)
        return self.reply


@pytest.fixture
def records(tmp_path: Path) -> LiveRecords:
    """Security basics in English (six lessons) and in Chinese (the first two only)."""
    store = Store(tmp_path / "db.sqlite")
    client = chromadb.PersistentClient(
        str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    embedder = HashEmbedder()
    index = ChromaIndex(client, embedder)
    ingestor = Ingestor(index, embedder, store, Chunker(400, 50))
    for course in ("security-basics", "security-basics-zh"):
        ingestor.ingest(load_course(SAMPLES / course))
    return LiveRecords(index, store.lesson_versions, store.catalog_generation)


def retriever(records: LiveRecords, translator: QueryTranslator | None) -> FusedRetriever:
    return FusedRetriever(
        DenseRetriever(records, HashEmbedder()), KeywordRetriever(records), translator=translator
    )


def test_a_chinese_question_reaches_an_english_only_lesson_through_the_model_translation(records):
    model = ScriptedModel(MEANT)
    translated = retriever(records, QueryTranslator(model))
    assert translated.lessons(VAGUE, 1) == [("security-basics", "remote-work")]
    assert retriever(records, None).lessons(VAGUE, 1) != [("security-basics", "remote-work")]
    assert model.asked == [VAGUE]
    # the evidence for answering stays measured on the learner's own words: translated hits vote only
    own = {
        h.chunk.chunk_id: h.dense_score for hits, _ in translated.dense.ranked_lists(VAGUE, 500) for h in hits
    }
    hits = translated.retrieve(VAGUE, 5)
    assert hits[0].chunk.lesson_id == "remote-work"
    assert all(h.dense_score in (None, own.get(h.chunk.chunk_id)) for h in hits)


def test_no_translation_is_asked_for_when_every_lesson_has_a_copy_in_the_question_language(records):
    model = ScriptedModel(MEANT)
    chinese_only = SearchFilter(course_ids=("security-basics-zh",))
    retriever(records, QueryTranslator(model)).retrieve(VAGUE, 5, chinese_only)
    assert records.untranslated_languages("zh", chinese_only) == []
    assert model.asked == []
    # an English question meets Chinese lessons that all have English copies
    assert records.untranslated_languages("en") == []


def test_a_busy_model_is_not_waited_for_and_its_silence_is_not_remembered(records):
    model = ScriptedModel(MEANT)
    line = AnswerLine(max_waiting=0)
    translator = QueryTranslator(model, line)
    with line.place():  # an answer is being generated
        hits = retriever(records, translator).retrieve(VAGUE, 5)
    assert hits and model.asked == []
    assert translator.translate(VAGUE, "en") == MEANT and model.asked == [VAGUE]
    translator.translate(VAGUE, "en")
    assert model.asked == [VAGUE]  # a repeat (a follow-up is searched twice) is remembered


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (f"Translation: “{MEANT}”\nHope this helps!", MEANT),
        ("这一课我没看懂，能再讲讲吗？", None),  # the question back, untranslated
        ("好的，我来翻译。", None),  # not English
        ("", None),
        ("word " * 200, None),  # a runaway reply
    ],
)
def test_only_a_clean_translation_is_used(reply, expected):
    assert QueryTranslator(ScriptedModel(reply)).translate(VAGUE, "en") == expected


def test_a_check_of_the_index_can_search_without_the_model(records):
    model = ScriptedModel(MEANT)
    translated = retriever(records, QueryTranslator(model))
    plain = translated.without_translation()
    assert plain.lessons(VAGUE, 1) == retriever(records, None).lessons(VAGUE, 1)
    assert model.asked == [] and translated.translator is not None


def test_whole_lessons_vote_only_where_the_model_translation_gives_other_languages_a_vote_too(records):
    """English-only lessons get whole-lesson votes only through the translation, so without it none vote."""
    question = "密码应该多长？远程办公时为什么要锁屏？"  # how long a password, why lock the screen remotely
    untranslated = retriever(records, None).ranked_lists(question, 20)
    assert untranslated.passages and untranslated.lessons == []
    translated = retriever(records, QueryTranslator(ScriptedModel(MEANT))).ranked_lists(question, 20)
    assert "en" in {h.chunk.language for hits, _ in translated.lessons for h in hits}
    # where every lesson has a copy in the question's language, whole lessons vote with no model at all
    chinese_only = SearchFilter(course_ids=("security-basics-zh",))
    assert retriever(records, None).ranked_lists(question, 20, chinese_only).lessons[0][0]
