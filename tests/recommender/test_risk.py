"""The at-risk model: the packaged coefficients, reasons a person reads, and the learner profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from bot.testing import TestBot
from recommender.profile import build_profile, course_snapshot
from recommender.risk import DIRECTION, FEATURES, RiskModel, Snapshot
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat(timespec="seconds")


def test_the_packaged_model_loads_and_ranks_a_struggling_learner_above_a_thriving_one():
    model = RiskModel.load()
    assert len(model.weights) == len(model.edges) == len(FEATURES)
    thriving = Snapshot(0.9, 0.95, 0.85, 0, 4, 0.0, 1.0, 60.0, ahead=1)
    struggling = Snapshot(0.4, 0.2, 0.6, 3, 4, 12.0, 25.0, 60.0)
    low, high = model.predict(np.array([thriving.vector(), struggling.vector()]))
    assert high > 0.5 > low


def test_reasons_name_falling_scores_overdue_reviews_and_silence():
    answers = [(at(40 - d), 1) for d in range(4)] + [(at(30 - d), 0) for d in range(3)]
    cards = [at(20), at(18), at(15), at(-2)]
    snap = course_snapshot(
        answers, cards, last_active=at(21), enrolled_at=at(45), now=NOW, lessons_done=2, lessons_total=6
    )
    assert (snap.missed, snap.due) == (4, 6), "a lesson a week: all six due by day 45, two done"
    assert round(snap.silence_days) == 21 and round(snap.late_days) == 18
    assert snap.last_score == 0.0 and snap.earlier_score == 1.0
    risk = RiskModel.load().explain(snap)
    assert risk.at_risk
    assert "scores falling: 0% lately, 100% before" in RiskModel.load().explain(snap, top=5).reasons
    assert {"4 of 6 lessons expected by now not done", "no activity for 21 days"} & set(risk.reasons)
    assert all(isinstance(r, str) and r for r in risk.reasons) and len(risk.reasons) <= 3


def test_nobody_is_at_risk_in_their_first_two_weeks():
    fresh = course_snapshot([], [], last_active=None, enrolled_at=at(2), now=NOW)
    assert not RiskModel.load().explain(fresh).at_risk


def test_a_fitted_model_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((400, len(FEATURES)))
    y = (x[:, 4] + rng.normal(0, 0.2, 400) > 0.5).astype(int)
    model = RiskModel.fit(x, y)
    model.save(tmp_path / "m.json", fitted_on="test")
    again = RiskModel.load(tmp_path / "m.json")
    assert np.allclose(model.predict(x), again.predict(x), atol=1e-4)
    assert model.weights[4][-1] > model.weights[4][0], "more of what drives the label: more risk"


def test_monotone_features_never_lower_the_risk_the_wrong_way():
    model = RiskModel.load()
    for feature, direction in DIRECTION.items():
        steps = np.diff(model.weights[FEATURES.index(feature)]) * direction
        assert (steps >= -1e-9).all(), feature


def test_contributions_add_up_to_the_log_odds():
    model = RiskModel.load()
    snap = Snapshot(0.5, 0.4, 0.6, 2, 4, 5.0, 9.0, 40.0, early_days=1.0, max_late_days=8.0, last_gap_days=6.0)
    x = np.array([snap.vector()])
    logit = model.contributions(x).sum() + model.baseline.sum() + model.intercept
    assert np.isclose(1 / (1 + np.exp(-logit)), model.predict(x)[0])


def test_snapshot_reads_early_lessons_the_most_overdue_review_and_the_last_gap():
    done = [at(38), at(33), at(20)]  # lessons 1-3, due 33, 26 and 19 days ago (enrolled 40 days ago)
    answers = [(at(20), 1), (at(9), 1)]
    snap = course_snapshot(
        answers, [at(10), at(2)], at(9), at(40), NOW, lessons_done=3, lessons_total=6, done_at=done
    )
    assert round(snap.early_days, 3) == round((5 + 7 + 1) / 3, 3)
    assert round(snap.max_late_days) == 10 and round(snap.last_gap_days) == 11


def test_profile_of_a_learner_from_the_store(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW - timedelta(days=30))
    testbot.ingest(SAMPLES / "security-basics")
    testbot.say("/enroll security-basics")
    testbot.say("/lesson")
    quiz = testbot.say("/quiz")
    testbot.press(quiz.buttons[1][0].data)  # a wrong answer
    testbot.say("/done")
    store = testbot.app.store
    learner = store.learner_for("test", testbot.user)
    profile = build_profile(store, learner, NOW)
    phishing = profile.state("security-basics", "phishing")
    assert phishing.done and (phishing.answers, phishing.correct) == (1, 0)
    assert phishing.mastery is not None and phishing.mastery < 0.5
    assert profile.done("security-basics") == {"phishing"} and profile.recent_course == "security-basics"
    risk = profile.risks["security-basics"]
    assert risk.at_risk and "low scores: 0% right so far" in risk.reasons
    assert "4 of 5 lessons expected by now not done" in risk.reasons, "30 days in, one lesson of five done"


def test_a_learner_enrolled_46_days_ago_who_never_opened_a_lesson_is_flagged_first():
    snap = course_snapshot([], [], last_active=None, enrolled_at=at(46), now=NOW, lessons_total=6)
    risk = RiskModel.load().explain(snap)
    assert snap.not_started and risk.at_risk
    assert risk.reasons[0] == "has not opened a lesson in 46 days"


def test_a_healthy_team_is_not_listed_as_at_risk():
    """Six members keeping a lesson a week with 60-90% right, active this week: nobody is listed."""
    model = RiskModel.load()
    team = []
    for n, accuracy in enumerate((0.6, 0.7, 0.75, 0.8, 0.85, 0.9)):
        answers = [(at(40 - 3 * k), int(k < accuracy * 10)) for k in range(10)]
        cards = [at(-3), at(-1), at(1)]  # one review a day late at most
        team.append(
            course_snapshot(
                answers,
                cards,
                last_active=at(n % 3),
                enrolled_at=at(40),
                now=NOW,
                lessons_done=5 + n % 2,
                lessons_total=6,
            )
        )
    risks = model.explain_many(team)
    assert sum(r.at_risk for r in risks) == 0, [round(r.probability, 2) for r in risks]


def test_a_learner_who_finished_the_course_is_never_listed():
    answers = [(at(30 - d), int(d % 3 == 0)) for d in range(6)]  # 33% right, and silent for 25 days
    snap = course_snapshot(
        answers, [at(20)], last_active=at(25), enrolled_at=at(60), now=NOW, lessons_done=6, lessons_total=6
    )
    assert snap.finished and not RiskModel.load().explain(snap).at_risk
