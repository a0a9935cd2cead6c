"""Premium tracks and entitlements: who may see which premium track, and until when.

The seam every other feature uses is :meth:`PremiumStore.entitled_tracks` (search filters, quiz
pushes, enrollment, recommendations). Issue 4 adds prices, the payment ledger and grants behind it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.base import StoreBase


class PremiumStore(StoreBase):
    """Entitlements to premium tracks."""

    def entitled_tracks(self, learner_id: int, now: datetime) -> frozenset[str]:
        """The premium tracks this learner may see at ``now`` (unexpired entitlements and org grants)."""
        return frozenset()

    def may_see_course(self, learner_id: int, course: dict[str, Any], now: datetime) -> bool:
        """Whether a course (a ``courses`` row) is open to this learner: free, or an entitled track."""
        return not course["premium"] or course["track"] in self.entitled_tracks(learner_id, now)
