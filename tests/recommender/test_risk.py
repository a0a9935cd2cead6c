"""The at-risk model: the packaged coefficients, reasons a person reads, and the learner profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from bot.testing import TestBot
from recommender.profile import build_profile, course_snapshot
from recommender.risk import FEATURES, RiskModel, Snapshot
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat(timespec="seconds")


def test_the_packaged_model_loads_and_ranks_a_struggling_learner_above_a_thriving_one():
    model = RiskModel.load()
    assert len(model.coef) == len(FEATURES)
    thriving = Snapshot(0.9, 0.95, 0.85, 0, 4, 0.0, 1.0, 60.0)
    struggling = Snapshot(0.4, 0.2, 0.6, 3, 4, 12.0, 25.0, 60.0)
    low, high = model.predict(np.array([thriving.vector(), struggling.vector()]))
    assert high > 0.5 > low


def test_reasons_name_falling_scores_overdue_reviews_and_silence():
    answers = [(at(40 - d), 1) for d in range(4)] + [(at(30 - d), 0) for d in range(3)]
    cards = [at(20), at(18), at(15), at(-2)]
    snap = course_snapshot(answers, cards, last_active=at(21), enrolled_at=at(45), now=NOW)
    assert (snap.missed, snap.due) == (3, 4) and round(snap.silence_days) == 21
    assert snap.last_score == 0.0 and snap.earlier_score == 1.0
    risk = RiskModel.load().explain(snap)
    assert risk.at_risk
    assert "scores falling: 0% lately, 100% before" in risk.reasons
    assert "3 of 4 reviews overdue" in risk.reasons or "no activity for 21 days" in risk.reasons
    assert all(isinstance(r, str) and r for r in risk.reasons) and len(risk.reasons) <= 3


def test_nobody_is_at_risk_in_their_first_two_weeks():
    fresh = course_snapshot([], [], last_active=None, enrolled_at=at(2), now=NOW)
    assert not RiskModel.load().explain(fresh).at_risk


def test_a_fitted_model_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((200, len(FEATURES)))
    y = (x[:, 4] + rng.normal(0, 0.2, 200) > 0.5).astype(int)
    model = RiskModel.fit(x, y)
    model.save(tmp_path / "m.json", fitted_on="test")
    again = RiskModel.load(tmp_path / "m.json")
    assert np.allclose(model.predict(x), again.predict(x), atol=1e-5)
    assert model.coef[4] > 0, "the feature that drives the label gets a positive weight"


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
    assert risk.at_risk and risk.reasons[:2] == ["low scores: 0% right so far", "1 of 1 reviews overdue"]
