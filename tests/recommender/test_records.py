"""The store satisfies the recommender's read protocols, and the recommender the chat views' topic protocol.

No type checker runs here, so check by hand.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from bot.chat.topics import CourseTopicsRecord, LessonTopicsRecord, TopicSource
from bot.store import Attempt, QuizItem, ReviewCardRow, Store
from bot.store.rows import CourseRow
from recommender.records import (
    AnswerRecord,
    CardRecord,
    CourseRecord,
    ItemRecord,
    LearnerRecords,
    TagRecords,
    TeamRecords,
)
from recommender.service import Recommender
from recommender.tags import LessonTags
from recommender.topics import CourseTopics


def members(protocol: type) -> dict[str, object]:
    names = {
        name
        for klass in protocol.__mro__
        if klass.__module__ in ("recommender.records", "bot.chat.topics")
        for name, value in vars(klass).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }
    return {name: inspect.getattr_static(protocol, name) for name in names}


@pytest.mark.parametrize("protocol", [LearnerRecords, TeamRecords, TagRecords])
def test_the_store_has_every_read_with_the_same_parameters(protocol):
    assert members(protocol)
    for name, wanted in members(protocol).items():
        have = getattr(Store, name, None)
        assert callable(have), f"Store has no {name}"
        assert list(inspect.signature(have).parameters) == list(inspect.signature(wanted).parameters), name


@pytest.mark.parametrize(
    ("row", "protocol"),
    [(Attempt, AnswerRecord), (ReviewCardRow, CardRecord), (QuizItem, ItemRecord), (CourseRow, CourseRecord)],
)
def test_the_store_rows_have_every_field_the_recommender_reads(row, protocol):
    fields = {f.name for f in dataclasses.fields(row)}
    assert set(members(protocol)) <= fields


def test_the_recommender_gives_the_chat_views_their_topics_as_data():
    assert set(members(TopicSource)) == {"course_topics", "lesson_topics"}
    for name, wanted in members(TopicSource).items():
        have = getattr(Recommender, name, None)
        assert callable(have), f"Recommender has no {name}"
        assert list(inspect.signature(have).parameters) == list(inspect.signature(wanted).parameters), name
    assert set(members(CourseTopicsRecord)) <= {f.name for f in dataclasses.fields(CourseTopics)}
    assert set(members(LessonTopicsRecord)) <= {f.name for f in dataclasses.fields(LessonTags)} | {"level"}
