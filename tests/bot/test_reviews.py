"""FSRS through py-fsrs: ratings, the course's desired retention, retrievability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fsrs import Card, Rating, Scheduler

from bot.reviews import new_card, rating_for, retrievability, review, utc

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("correct", "feel", "rating"),
    [
        (False, None, Rating.Again),
        (False, "easy", Rating.Again),
        (True, None, Rating.Good),
        (True, "easy", Rating.Easy),
        (True, "hard", Rating.Hard),
    ],
)
def test_rating_from_correctness_and_feel(correct, feel, rating):
    assert rating_for(correct, feel) == rating


def test_review_is_py_fsrs_with_the_courses_desired_retention():
    card = new_card(7, "item", NOW)
    assert card.due == NOW and card.card_id == new_card(7, "item", NOW + timedelta(days=1)).card_id
    for retention in (0.8, 0.95):
        expected, _ = Scheduler(desired_retention=retention, enable_fuzzing=False).review_card(
            card, Rating.Easy, NOW
        )
        assert review(card, Rating.Easy, NOW, retention, fuzz=False) == expected
    lenient = review(card, Rating.Easy, NOW, 0.8, fuzz=False)
    strict = review(card, Rating.Easy, NOW, 0.95, fuzz=False)
    assert lenient.due > strict.due > NOW, "higher desired retention, sooner review"


def test_retrievability_falls_with_time():
    card = review(new_card(1, "x", NOW), Rating.Easy, NOW, 0.9, fuzz=False)
    assert retrievability(card, NOW) == pytest.approx(1.0)
    assert (
        0 < retrievability(card, NOW + timedelta(days=30)) < retrievability(card, NOW + timedelta(days=3)) < 1
    )
    assert retrievability(Card(card_id=1, due=NOW), NOW) == 0, "a card never reviewed"


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        utc(datetime(2026, 1, 1))
