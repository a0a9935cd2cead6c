"""Review cards: FSRS scheduling with py-fsrs (never hand-written), ratings, and time helpers.

A card is py-fsrs's own ``Card``, stored with its ``to_dict()`` and restored with ``from_dict()``, so a
round trip through the database changes nothing. Times are whole seconds in UTC, like the store's.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fsrs import Card, Rating, Scheduler

Feel = Literal["easy", "hard"]
"""How a right answer felt, when the learner taps it."""


def rating_for(correct: bool, feel: Feel | None = None) -> Rating:
    """Wrong is Again; right is Good, or Easy / Hard when the learner says how it felt."""
    if not correct:
        return Rating.Again
    return {"easy": Rating.Easy, "hard": Rating.Hard}.get(feel or "", Rating.Good)


@lru_cache(maxsize=32)
def scheduler_for(desired_retention: float, fuzz: bool = True) -> Scheduler:
    """The FSRS scheduler for a course's desired retention (fuzz spreads equal intervals apart)."""
    return Scheduler(desired_retention=desired_retention, enable_fuzzing=fuzz)


def new_card(learner_id: int, item_id: str, now: datetime) -> Card:
    """A fresh card, due now, with an id derived from learner and item (stable, no clock)."""
    digest = hashlib.sha256(f"{learner_id}\x1f{item_id}".encode()).digest()
    return Card(card_id=int.from_bytes(digest[:6], "big"), due=utc(now))


def review(card: Card, rating: Rating, now: datetime, desired_retention: float, fuzz: bool = True) -> Card:
    """The card after one review at ``now`` (FSRS decides the next due time)."""
    reviewed, _log = scheduler_for(desired_retention, fuzz).review_card(card, rating, utc(now))
    return reviewed


def retrievability(card: Card, now: datetime, desired_retention: float = 0.9) -> float:
    """FSRS's predicted probability that the learner recalls the item at ``now``."""
    return float(scheduler_for(desired_retention).get_card_retrievability(card, utc(now)))


def utc(moment: datetime) -> datetime:
    """A timezone-aware moment in UTC, to whole seconds (what the store keeps, so round trips are exact)."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def zone(name: str) -> ZoneInfo:
    """A learner's time zone; UTC if the stored name is unknown here."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
