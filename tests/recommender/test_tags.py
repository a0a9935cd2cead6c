"""Content tags: keywords from each lesson's own text (English, Chinese), difficulty, shown in chat."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store import LessonRow
from bot.testing import HashEmbedder, TestBot
from recommender.tags import MIN_ANSWERS, blended_difficulty, depths, keywords, terms
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(lesson_id: str, position: int, prerequisites: list[str]) -> LessonRow:
    return LessonRow("c", lesson_id, lesson_id, position, "", [], 10, prerequisites, "v1", 1)


def test_terms_keep_content_words_and_phrases_within_a_sentence():
    found = terms("The MQTT broker routes messages. Broker, then topics!", "en")
    assert "mqtt broker" in found and "broker routes" in found and "the" not in found
    assert "messages broker" not in found, "no phrase across a full stop"
    chinese = terms("物联网设备通过传感器收集温度数据。传感器很重要。", "zh")
    assert "传感器" in chinese and "的" not in chinese


def test_keywords_come_from_the_lessons_own_text_and_are_ranked():
    from collections import Counter

    text = "Sensors measure temperature. A temperature sensor gives an analog signal. Sensors drift."
    counts = Counter(terms(text, "en"))
    words, vector = keywords(HashEmbedder(), text, counts, {"temperature": 1, "sensors": 1}, 4)
    assert words and set(words) <= set(counts) and "temperature" in words
    assert vector.shape == (HashEmbedder.dimension,)


def test_difficulty_grows_with_depth_then_follows_quiz_accuracy():
    chain = depths([row("a", 0, []), row("b", 1, ["a"]), row("c", 2, ["b"]), row("d", 3, ["a"])])
    assert chain == {"a": 0.0, "b": 0.5, "c": 1.0, "d": 0.5}
    ordered = depths([row("x", 0, []), row("y", 1, []), row("z", 2, [])])
    assert ordered == {"x": 0.0, "y": 0.5, "z": 1.0}, "course order when nothing is declared"
    assert blended_difficulty(0.2, MIN_ANSWERS - 1, 0) == 0.2, "too few answers: text and graph only"
    assert blended_difficulty(0.2, 100, 10) == 0.9, "enough answers: the error rate decides"


def test_tags_are_computed_after_ingestion_once_per_version_and_shown(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / "security-basics-zh")
    testbot.ingest(SAMPLES / "security-basics")
    store = testbot.app.store
    assert store.lesson_tags() == [], "ingestion itself computes no tags"
    courses = testbot.say("/courses").text
    assert "topics:" in courses
    tagged = store.lesson_tags()
    assert len(tagged) == len(store.lessons()), "every lesson of both courses"
    chinese = [t for t in tagged if t["course_id"] != "security-basics"]
    assert chinese and all(any("\u4e00" <= ch <= "\u9fff" for ch in "".join(t["keywords"])) for t in chinese)
    assert testbot.app.bot.recommend.tags.ensure() == 0, "nothing recomputed for unchanged versions"
    testbot.say("/enroll security-basics")
    view = testbot.say("/lesson").text.splitlines()
    assert view[2].startswith("Topics: ") and view[2].endswith("introductory")
