"""Recommender contract tests on designed data with a known answer, and /next in chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.store.rows import CourseRow
from bot.testing import TestBot
from recommender.catalogue import Catalogue
from recommender.collaborative import Collaborative
from recommender.recommend import LearnerState, Recommendation, rank, ready, violates
from recommender.records import LessonRow
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def lesson(course: str, lesson_id: str, position: int, prerequisites: list[str] | None = None) -> LessonRow:
    return LessonRow(course, lesson_id, lesson_id.title(), position, "", [], 10, prerequisites or [], "v1", 1)


@pytest.fixture
def iot() -> Catalogue:
    """Sensors -> (Actuators, MQTT) -> Cloud, plus a premium course nobody here may see."""
    rows = [
        lesson("iot", "sensors", 0),
        lesson("iot", "actuators", 1, ["sensors"]),
        lesson("iot", "mqtt", 2, ["sensors"]),
        lesson("iot", "cloud", 3, ["actuators", "mqtt"]),
    ]
    courses = {"iot": CourseRow("iot", "IoT"), "pro": CourseRow("pro", "IoT Pro", premium=True, track="pro")}
    return Catalogue(courses, {"iot": rows, "pro": [lesson("pro", "edge", 0)]})


def state(done: set[str], **extra) -> LearnerState:
    history = [("iot", lid) for lid in ("sensors", "actuators", "mqtt", "cloud") if lid in done]
    return LearnerState(
        done={"iot": done}, history=history, recent_course="iot", enrolled={"iot"}, visible={"iot"}, **extra
    )


def test_only_ready_lessons_of_visible_courses_and_the_upsell_is_marked(iot):
    learner = state({"sensors"})
    recs = rank(learner, iot, None, n=5)
    lessons = [r.lesson_id for r in recs if not r.locked]
    assert set(lessons) == {"actuators", "mqtt"}, "cloud needs actuators and mqtt; sensors is done"
    assert not any(violates(iot, learner, r) for r in recs)
    upsell = [r for r in recs if r.locked]
    assert len(upsell) == 1 and upsell[0].lesson_id == "" and upsell[0].kind == "upsell"
    assert "premium" in upsell[0].reason and upsell[0].course_id == "pro"


def test_a_weak_prerequisite_comes_first_with_the_score_in_the_reason(iot):
    learner = state({"sensors"}, mastery={("iot", "sensors"): (0.375, 3, 1)})
    first = rank(learner, iot, None, n=3)[0]
    assert (first.lesson_id, first.kind) == ("sensors", "review")
    assert first.reason in (
        "you scored 1/3 on Sensors, which Actuators builds on",
        "you scored 1/3 on Sensors, which Mqtt builds on",
    )
    strong = state({"sensors"}, mastery={("iot", "sensors"): (0.9, 3, 3)})
    assert all(r.kind != "review" for r in rank(strong, iot, None, n=3)), (
        "a strong prerequisite is not reviewed"
    )


def test_the_current_course_continues_in_course_order(iot):
    recs = rank(state(set()), iot, None, n=3)
    assert recs[0].lesson_id == "sensors" and "the course you are on" in recs[0].reason


def test_other_learners_next_step_and_questions_move_a_lesson_up(iot):
    histories = {n: [("iot", "sensors"), ("iot", "mqtt")] for n in range(8)}
    histories[99] = [("iot", "sensors"), ("iot", "actuators")]
    collab = Collaborative.fit(histories)
    assert not collab.uses_als, "too little data for ALS: popularity and transitions"
    first = rank(state({"sensors"}), iot, collab, n=2)[0]
    assert first.lesson_id == "mqtt" and first.reason == "most learners who finished Sensors took it next"

    asked = state(
        {"sensors"}, similarity={("iot", "actuators"): 0.9}, asked={("iot", "actuators"): ("servo", 2)}
    )
    top = rank(asked, iot, None, n=2)[0]
    assert top.lesson_id == "actuators" and top.reason == "you asked about servo twice"


def test_lesson_order_is_the_prerequisite_when_none_is_declared():
    rows = [lesson("c", f"l{i}", i) for i in range(5)]
    assert [r.lesson_id for r in ready(rows, set())] == ["l0"]
    assert [r.lesson_id for r in ready(rows, {"l0", "l2"})] == ["l1", "l3"], (
        "back to a skipped one, or one on"
    )


def test_next_in_chat_has_reasons_and_an_open_button_that_checks_readiness(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / "security-basics")
    assert "a course you have not begun" in testbot.say("/next").text
    testbot.say("/enroll security-basics")
    reply = testbot.say("/next")
    assert reply.text.startswith(
        "What to study next:\n1. Recognising phishing (Security Basics for Employees)"
    )
    assert "the course you are on" in reply.text
    assert reply.buttons[0][0].data == "open:security-basics:phishing"
    assert all("Passwords" not in b.label for row in reply.buttons for b in row), "passwords needs phishing"
    opened = testbot.press(reply.buttons[0][0].data)
    assert "Lesson 1 of 6" in opened.text and "Topics: " in opened.text
    assert "builds on lessons you have not finished" in testbot.press("open:security-basics:mfa").text
    assert "expired" in testbot.press("open:security-basics:nope").text


def test_a_lesson_on_one_of_the_learners_topics_scores_higher(iot):
    plain = {r.lesson_id: r.score for r in rank(state({"sensors"}), iot, None, n=5)}
    keen = state({"sensors"}, topics={("iot", "mqtt"): "broker"})
    scored = {r.lesson_id: r.score for r in rank(keen, iot, None, n=5)}
    assert scored["mqtt"] > plain["mqtt"] and scored["actuators"] == plain["actuators"]


def test_the_translation_of_a_course_the_learner_studies_is_never_recommended():
    """security-basics-zh keeps the English course's lesson ids; iot-zh is iot's id with a language suffix."""
    english = [lesson("security-basics", lid, i) for i, lid in enumerate(("phishing", "passwords", "mfa"))]
    chinese = [lesson("security-basics-zh", lid, i) for i, lid in enumerate(("phishing", "passwords"))]
    courses = {
        c.course_id: c
        for c in (
            CourseRow("security-basics", "Security", "en"),
            CourseRow("security-basics-zh", "员工安全基础", "zh"),
            CourseRow("iot-zh", "物联网", "zh"),
            CourseRow("iot", "IoT", "en"),
        )
    }
    lessons = {"security-basics": english, "security-basics-zh": chinese}
    lessons |= {c: [lesson(c, "intro", 0)] for c in ("iot-zh", "iot")}
    cat = Catalogue(courses, lessons)
    done = {"phishing", "passwords", "mfa"}
    learner = LearnerState(
        done={"security-basics": done},
        history=[("security-basics", lid) for lid in ("phishing", "passwords", "mfa")],
        recent_course="security-basics",
        enrolled={"security-basics", "iot"},
        visible=set(courses),
        language="en",
    )
    recs = rank(learner, cat, None, n=5)
    shown = [r.course_id for r in recs]
    assert "security-basics-zh" not in shown, "same lessons in another language: a translation"
    assert "iot-zh" not in shown, "x / x-zh"
    assert shown == ["iot"]
    wrong = Recommendation("security-basics-zh", "phishing", "", 0, "", "start")
    assert violates(cat, learner, wrong)
    chinese_learner = LearnerState(done={}, history=[], enrolled=set(), visible=set(courses), language="zh")
    first = rank(chinese_learner, cat, None, n=5)
    assert [r.course_id for r in first[:2]] == ["security-basics-zh", "iot-zh"], "their language first"


def test_weekly_feedback_names_a_weak_lesson_even_in_a_week_without_answers(tmp_path):
    import asyncio

    from bot.jobs.learning import progress_feedback
    from bot.testing import FakeAdapter

    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / "security-basics")
    testbot.say("/enroll security-basics")
    store, loop = testbot.app.store, testbot.app.bot.learning.loop
    learner = store.learner_for("test", testbot.user)
    tuesday = NOW + timedelta(days=1)
    loop.mark_done(learner, "security-basics", "phishing", tuesday)
    for item in store.quiz_items("security-basics", lesson_id="phishing")[:2]:
        loop.answer(learner, item.item_id, (item.answer + 1) % len(item.options), tuesday)
    adapter = FakeAdapter("test")
    deps = testbot.app.job_deps({"test": adapter})
    testbot.at(datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    asyncio.run(progress_feedback(deps, datetime(2026, 3, 16, 9, 0, tzinfo=UTC)))
    [(_, reply)] = adapter.sent
    assert "- Quiz answers: none this week" in reply.text
    assert "Worth a review: Recognising phishing (you scored 0/2)" in reply.text


def test_the_ranking_learns_from_the_histories_how_much_course_position_counts():
    """A hub lesson opens four others; learners take the one of their topic (their question says it).

    Whatever the course order: the learned blend weighs the questions above course position.
    """
    from recommender.blend import FEATURES
    from recommender.recommend import fit_collaborative

    rows = [lesson("hub", "start", 0)] + [lesson("hub", f"t{i}", i + 1, ["start"]) for i in range(4)]
    cat = Catalogue({"hub": CourseRow("hub", "Hub")}, {"hub": rows})
    histories, similarity = {}, {}
    for n in range(400):
        topic = ("hub", f"t{n % 4}")
        histories[n] = [("hub", "start"), topic]
        similarity[n] = {("hub", f"t{i}"): 0.9 if ("hub", f"t{i}") == topic else 0.1 for i in range(4)}
    collab = fit_collaborative(cat, histories, {n: ["hub"] for n in histories}, similarity)
    assert collab.blend is not None
    weights = dict(zip(FEATURES, collab.blend, strict=True))
    assert weights["similar"] > max(weights["first"], 0), weights
    learner = LearnerState(
        done={"hub": {"start"}},
        history=[("hub", "start")],
        recent_course="hub",
        enrolled={"hub"},
        visible={"hub"},
        similarity={("hub", f"t{i}"): 0.9 if i == 2 else 0.1 for i in range(4)},
    )
    assert rank(learner, cat, collab, n=1)[0].lesson_id == "t2"


def test_with_learned_weights_every_lesson_of_the_learners_course_comes_before_a_new_course():
    """Even the unlikeliest ready lesson of the course they study: a course not begun comes after."""
    from recommender.recommend import fit_collaborative

    rows = [lesson("hub", "start", 0)] + [lesson("hub", f"t{i}", i + 1, ["start"]) for i in range(6)]
    courses = {"hub": CourseRow("hub", "Hub"), "new": CourseRow("new", "New")}
    cat = Catalogue(courses, {"hub": rows, "new": [lesson("new", "intro", 0)]})
    histories = {n: [("hub", "start"), ("hub", "t0" if n % 10 else "t1")] for n in range(400)}
    collab = fit_collaborative(cat, histories, {n: ["hub"] for n in histories})
    assert collab.blend is not None
    learner = LearnerState(
        done={"hub": {"start"}},
        history=[("hub", "start")],
        recent_course="hub",
        enrolled={"hub"},
        visible={"hub", "new"},
    )
    ranked = rank(learner, cat, collab, n=8, upsell=False)
    assert [r.lesson_id for r in ranked][:2] == ["t0", "t1"]
    assert ranked[-1].course_id == "new" and ranked[-1].kind == "start", [
        (r.lesson_id, r.score) for r in ranked
    ]


def test_next_after_finishing_the_english_course_never_offers_its_chinese_translation(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / "security-basics")
    testbot.ingest(SAMPLES / "security-basics-zh")
    testbot.say("/enroll security-basics")
    store, loop = testbot.app.store, testbot.app.bot.learning.loop
    learner = store.learner_for("test", testbot.user)
    for n, row in enumerate(store.lessons("security-basics")):
        loop.mark_done(learner, "security-basics", row.lesson_id, NOW + timedelta(minutes=n))
    text = testbot.say("/next").text
    assert "员工安全基础" not in text and "a course you have not begun" not in text, text
    newcomer = TestBot(testbot.app, user="newcomer").at(NOW)
    assert "starts 员工安全基础" in newcomer.say("/next").text, "not studying either: the course is offered"
