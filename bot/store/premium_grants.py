"""Grants without payment (one learner, or a whole Slack workspace), learners' workspaces, payment blocks.

Part of :class:`bot.store.premium.PremiumStore`; access itself is decided there (``entitled_tracks``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.base import StoreBase, iso

NO_END = "9999-12-31T23:59:59+00:00"
"""``valid_until`` of a grant without end (sorts after every real timestamp)."""


class GrantStore(StoreBase):
    """Admin grants, organisation grants, the workspace each learner talks from, and payment blocks."""

    # -- grants --------------------------------------------------------------------------------

    def grant(self, learner_id: int, track: str, until: datetime | None, now: datetime) -> str:
        """An admin's grant to one learner, until ``until`` (``None``: no end); returns the end."""
        with self.transaction():
            end = iso(until) if until else NO_END
            self.db["entitlements"].insert(
                {
                    "learner_id": learner_id,
                    "track": track,
                    "starts_at": iso(now),
                    "valid_until": end,
                    "source": "grant",
                    "charge_id": "",
                    "revoked_at": None,
                    "ended_at": None,
                    "created_at": iso(now),
                }
            )
            return end

    def revoke(self, learner_id: int, track: str, now: datetime) -> int:
        """End a learner's granted (not paid) access to a track now; returns rows revoked."""
        with self.transaction():
            cursor = self.db.execute(
                "update entitlements set revoked_at = ? where learner_id = ? and track = ? "
                "and source = 'grant' and revoked_at is null and valid_until > ?",
                [iso(now), learner_id, track, iso(now)],
            )
            return cursor.rowcount

    def grant_org(
        self, platform: str, team_id: str, track: str, until: datetime | None, now: datetime
    ) -> None:
        """Entitle every member of a workspace (``platform``, ``team_id``) to a track."""
        with self.transaction():
            self.db["org_grants"].insert(
                {
                    "platform": platform,
                    "team_id": team_id,
                    "track": track,
                    "valid_until": iso(until) if until else NO_END,
                    "created_at": iso(now),
                    "revoked_at": None,
                }
            )

    def revoke_org(self, platform: str, team_id: str, track: str, now: datetime) -> int:
        """End a workspace's grant to a track now; returns grants revoked."""
        with self.transaction():
            cursor = self.db.execute(
                "update org_grants set revoked_at = ? where platform = ? and team_id = ? and track = ? "
                "and revoked_at is null",
                [iso(now), platform, team_id, track],
            )
            return cursor.rowcount

    def org_grants(self) -> list[dict[str, Any]]:
        """Every organisation grant, oldest first."""
        return list(self.db["org_grants"].rows_where(order_by="id"))

    def record_team(self, learner_id: int, platform: str, team_id: str, now: datetime) -> None:
        """Remember the workspace a learner talks from (organisation grants apply through it)."""
        with self.transaction():
            self.db.execute(
                "insert into learner_teams(learner_id, platform, team_id, updated_at) values (?, ?, ?, ?) "
                "on conflict(learner_id, platform, team_id) do update set updated_at = excluded.updated_at",
                [learner_id, platform, team_id, iso(now)],
            )

    # -- blocks --------------------------------------------------------------------------------

    def block_buyer(self, learner_id: int, reason: str, now: datetime) -> None:
        """Refuse this learner's payments (pre-checkout says so) until unblocked."""
        with self.transaction():
            self.db["premium_blocks"].upsert(
                {"learner_id": learner_id, "reason": reason, "created_at": iso(now)}, pk="learner_id"
            )

    def unblock_buyer(self, learner_id: int) -> bool:
        """Lift a block; returns whether there was one."""
        with self.transaction():
            return (
                self.db.execute("delete from premium_blocks where learner_id = ?", [learner_id]).rowcount > 0
            )

    def buyer_blocked(self, learner_id: int) -> bool:
        """Whether this learner's payments are refused."""
        return (
            self.db.execute("select 1 from premium_blocks where learner_id = ?", [learner_id]).fetchone()
            is not None
        )
