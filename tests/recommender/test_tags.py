"""Content tags: key phrases from each lesson's own text (English, Chinese), difficulty, course topics."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np

from bot.store.rows import CourseRow
from bot.testing import HashEmbedder, TestBot
from recommender.difficulty import (
    MIN_ANSWERS,
    blended_difficulty,
    depths,
    text_difficulty,
    translation_groups,
)
from recommender.keywords import choose, keywords, terms
from recommender.records import LessonRow
from recommender.tags import ContentTags, LessonTags
from recommender.topics import course_topics
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IOT = (
    "The device sends telemetry to the IoT Hub. The IoT Hub routes each message to the Azure Functions app. "
    "A broker forwards the message. The broker is an MQTT server. You wait for the broker to answer. "
    "The values are equal. Azure Functions run your code when a message arrives at the IoT Hub."
)


def row(lesson_id: str, position: int, prerequisites: list[str]) -> LessonRow:
    return LessonRow("c", lesson_id, lesson_id, position, "", [], 10, prerequisites, "v1", 1)


def test_terms_are_noun_phrases_and_names_never_verbs_adjectives_or_title_fragments():
    found = set(terms(IOT, "en"))
    assert {"IoT Hub", "Azure Functions", "MQTT", "broker"} <= found
    assert not found & {"wait", "equal", "sends", "routes", "values are"}, (
        "verbs and adjectives are no topics"
    )
    assert "hub routes" not in found and "functions run" not in found, "no phrase across a verb"
    title = set(terms("Dive deeper into IoT. Dive deeper into the IoT Hub.", "en"))
    assert "dive" not in title and "dive deeper" not in title


def test_chinese_compounds_stay_whole():
    chinese = terms(
        "请使用密码管理器保存密码。密码管理器会生成强密码。物联网设备通过传感器收集温度数据。", "zh"
    )
    assert "密码管理器" in chinese and "管理器" not in chinese
    assert "传感器" in chinese and "的" not in chinese


def test_keywords_come_from_the_lessons_own_text_without_near_duplicates():
    counts = Counter(terms(IOT, "en"))
    words, vector = keywords(HashEmbedder(), IOT, counts, {"broker": 3}, 4)
    assert words and set(words) <= set(counts) and "IoT Hub" in words
    assert vector.shape == (HashEmbedder.dimension,)
    doc = np.ones(4, dtype=np.float32) / 2
    vectors = {t: doc for t in ("event hub", "hub event", "hub", "soil moisture")}
    chosen = choose({"event hub": 3.0, "hub event": 2.9, "hub": 2.5, "soil moisture": 1.0}, doc, vectors)
    assert chosen == ["event hub", "soil moisture"], "a reordering or a part of a kept phrase is a duplicate"


def test_difficulty_comes_from_content_not_position_and_then_from_learners():
    prose = "\n".join(f"Phishing messages try to rush you, line {n}." for n in range(20))
    code = "\n".join(
        f"Call `client.send_message(msg{n})` on the IoT Hub.\n```python\nx = {n}\n```" for n in range(20)
    )
    assert text_difficulty(code) > text_difficulty(prose) + 0.3, "code and technical tokens ask more"
    ordered = depths([row("x", 0, []), row("y", 1, []), row("z", 2, [])])
    assert ordered == {"x": 0.0, "y": 0.5, "z": 1.0}, "depth is still known, but difficulty does not read it"
    assert blended_difficulty(0.2, MIN_ANSWERS - 1, 0) == 0.2, "too few answers: content only"
    assert blended_difficulty(0.2, 100, 10) == 0.9, "enough answers: the error rate decides"


def test_translations_pair_by_shared_lesson_ids_across_languages():
    courses = [CourseRow("sec", "S", "en"), CourseRow("sec-zh", "S", "zh"), CourseRow("other", "O", "en")]
    lessons = {
        "sec": {"phishing", "passwords", "mfa"},
        "sec-zh": {"phishing", "passwords"},
        "other": {"phishing", "x"},
    }
    groups = translation_groups(courses, lessons)
    assert groups[("sec-zh", "phishing")] == groups[("sec", "phishing")] == ("sec", "phishing")
    assert ("other", "phishing") not in groups, "same language: not a translation"


def test_course_topics_are_the_most_central_keywords_not_the_first_lessons():
    core, side = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
    lessons = [
        LessonTags("c", "a-intro", ["welcome", "setup"], 0.1, side),
        LessonTags("c", "b", ["IoT Hub", "telemetry"], 0.5, core),
        LessonTags("c", "c", ["IoT Hub", "MQTT"], 0.5, core),
        LessonTags("c", "d", ["telemetry", "Azure Functions"], 0.5, core),
    ]
    topics = course_topics(lessons, 3)
    assert topics[:2] == ["IoT Hub", "telemetry"] and "welcome" not in topics


def test_tags_are_computed_after_ingestion_once_per_version_and_shown(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / "security-basics-zh")
    testbot.ingest(SAMPLES / "security-basics")
    store = testbot.app.store
    assert store.lesson_tags() == [], "ingestion itself computes no tags"
    courses = testbot.say("/courses").text
    tagged = store.lesson_tags()
    assert len(tagged) == len(store.lessons()), "every lesson of both courses"
    content = testbot.app.recommender.tags
    english = [t for (cid, _), t in content.tags().items() if cid == "security-basics"]
    assert f"topics: {', '.join(course_topics(english))};" in courses, "the course's central topics"
    chinese = [t for t in tagged if t["course_id"] != "security-basics"]
    assert chinese and all(any("\u4e00" <= ch <= "\u9fff" for ch in "".join(t["keywords"])) for t in chinese)
    both = content.tags()
    for lesson in ("phishing", "passwords"):
        assert both[("security-basics", lesson)].difficulty == both[("security-basics-zh", lesson)].difficulty
    assert content.ensure() == 0, "nothing recomputed for unchanged versions"
    testbot.say("/enroll security-basics")
    view = testbot.say("/lesson").text.splitlines()
    assert view[2].startswith("Topics: ") and view[2].endswith("introductory")


def test_views_without_tags_when_they_cannot_be_computed(tmp_path, monkeypatch, caplog):
    """Tags are extra: a failure to compute them is logged, and /courses and the lesson view still show."""
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / "security-basics")

    def broken(self, course_id=None):
        raise RuntimeError("no embedder today")

    monkeypatch.setattr(ContentTags, "ensure", broken)
    courses = testbot.say("/courses").text
    assert "(security-basics): 6 lessons" in courses and "topics:" not in courses
    testbot.say("/enroll security-basics")
    view = testbot.say("/lesson").text.splitlines()
    assert view[1] == "Recognising phishing" and view[2] == "", "no topics line under the title"
    assert "could not compute lesson tags" in caplog.text
