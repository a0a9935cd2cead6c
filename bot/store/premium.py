"""Premium tracks and entitlements: prices, the payment ledger, grants, and who may see what, until when.

The seam every other feature uses is :meth:`PremiumStore.entitled_tracks` (search filters, quiz
pushes, enrollment, recommendations). Access is decided by time alone: a row whose ``valid_until``
has passed gives nothing, whether or not the daily expiry job has run yet.

Each paid period is its own ``entitlements`` row; a new payment starts where the learner's current
access ends, so periods chain. A refund revokes its row and pulls the later periods of that chain
forward by the time the refunded one still had to run, so nobody keeps paid-for days they got back
or loses days they still pay for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store.base import iso
from bot.store.premium_grants import NO_END, GrantStore
from bot.store.rows import CourseRow
from recommender.records import CourseRecord

__all__ = ["NO_END", "Access", "Expiring", "PremiumStore", "Price"]


@dataclass(frozen=True)
class Price:
    """One version of a track's price: Stars, the period it buys, and whether it is a subscription."""

    track: str
    version: int
    stars: int
    period_days: int
    subscription: bool
    created_at: str


@dataclass(frozen=True)
class Access:
    """A learner's access to one track: until when, and whether through their organisation."""

    track: str
    until: str
    via_org: bool


@dataclass(frozen=True)
class Expiring:
    """A learner whose access to a track ends at ``until`` (for reminders and end-of-access notices)."""

    learner_id: int
    track: str
    until: str


class PremiumStore(GrantStore):
    """Entitlements to premium tracks, their prices and the payments ledger."""

    # -- the seam ------------------------------------------------------------------------------

    def entitled_tracks(self, learner_id: int, now: datetime) -> frozenset[str]:
        """The premium tracks this learner may see at ``now`` (unexpired entitlements and org grants)."""
        at = iso(now)
        rows = self.db.execute(
            "select track from entitlements where learner_id = ? and revoked_at is null "
            "and starts_at <= ? and valid_until > ? "
            "union select g.track from org_grants g join learner_teams t "
            "on t.platform = g.platform and t.team_id = g.team_id "
            "where t.learner_id = ? and g.revoked_at is null and g.valid_until > ?",
            [learner_id, at, at, learner_id, at],
        ).fetchall()
        return frozenset(r[0] for r in rows)

    def may_see_course(self, learner_id: int, course: CourseRecord, now: datetime) -> bool:
        """Whether a course is open to this learner: free, or an entitled track."""
        return not course.premium or course.track in self.entitled_tracks(learner_id, now)

    def access(self, learner_id: int, track: str, now: datetime) -> Access | None:
        """The learner's current access to ``track``: the end of their chain of paid periods or grants."""
        at = iso(now)
        org = self.db.execute(
            "select max(g.valid_until) from org_grants g join learner_teams t "
            "on t.platform = g.platform and t.team_id = g.team_id "
            "where t.learner_id = ? and g.track = ? and g.revoked_at is null and g.valid_until > ?",
            [learner_id, track, at],
        ).fetchone()[0]
        own = self.db.execute(
            "select max(valid_until) from entitlements where learner_id = ? and track = ? "
            "and revoked_at is null and valid_until > ?",
            [learner_id, track, at],
        ).fetchone()[0]
        started = self.db.execute(
            "select 1 from entitlements where learner_id = ? and track = ? and revoked_at is null "
            "and starts_at <= ? and valid_until > ?",
            [learner_id, track, at, at],
        ).fetchone()
        if org and (not own or org >= own):
            return Access(track, org, True)
        if own and started:
            return Access(track, own, False)
        return None

    # -- catalogue and prices ------------------------------------------------------------------

    def premium_courses(self) -> dict[str, list[CourseRow]]:
        """Premium courses grouped by track, tracks and courses in catalogue order."""
        tracks: dict[str, list[CourseRow]] = {}
        for row in self.db["courses"].rows_where("premium = 1", order_by="track, ingested_at, course_id"):
            course = CourseRow.from_row(row)
            tracks.setdefault(course.track, []).append(course)
        return tracks

    def set_price(self, track: str, stars: int, period_days: int, subscription: bool, now: datetime) -> Price:
        """Store a new price version for a track (older invoices become stale); returns it."""
        with self.transaction():
            row = self.db.execute(
                "select coalesce(max(version), 0) from track_prices where track = ?", [track]
            ).fetchone()
            version = int(row[0]) + 1
            self.db["track_prices"].insert(
                {
                    "track": track,
                    "version": version,
                    "stars": stars,
                    "period_days": period_days,
                    "subscription": int(subscription),
                    "created_at": iso(now),
                }
            )
        return Price(track, version, stars, period_days, subscription, iso(now))

    def price(self, track: str, version: int | None = None) -> Price | None:
        """A track's price: the given version, else the current (latest) one."""
        if version is None:
            row = self.db.execute(
                "select * from track_prices where track = ? order by version desc limit 1", [track]
            ).fetchone()
        else:
            row = self.db.execute(
                "select * from track_prices where track = ? and version = ?", [track, version]
            ).fetchone()
        if row is None:
            return None
        track_, version_, stars, period, subscription, created = row
        return Price(track_, int(version_), int(stars), int(period), bool(subscription), created)

    def prices(self) -> list[Price]:
        """The current price of every priced track."""
        rows = self.db.execute("select distinct track from track_prices order by track").fetchall()
        return [p for (track,) in rows if (p := self.price(track)) is not None]

    def active_entitlement_count(self, track: str, now: datetime) -> int:
        """Learners with paid or granted (not org) access to a track now."""
        at = iso(now)
        row = self.db.execute(
            "select count(distinct learner_id) from entitlements where track = ? and revoked_at is null "
            "and starts_at <= ? and valid_until > ?",
            [track, at, at],
        ).fetchone()
        return int(row[0])

    # -- payments ------------------------------------------------------------------------------

    def record_payment(
        self,
        *,
        charge_id: str,
        provider_charge_id: str,
        learner_id: int,
        telegram_user_id: str,
        track: str,
        price_version: int,
        currency: str,
        amount: int,
        payload: str,
        kind: str,
        period: timedelta | None,
        until: datetime | None,
        now: datetime,
    ) -> str | None:
        """Write a ledger row and grant the period it paid for, in one transaction.

        The period starts where the learner's current access to the track ends (or now); it lasts
        ``period``, or runs to ``until`` (a subscription's expiration date from Telegram).

        Returns:
            The new end of the learner's access, or ``None`` when the charge is in the ledger
            already (a repeated delivery writes nothing).
        """
        at = iso(now)
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into payments(telegram_payment_charge_id, provider_payment_charge_id, "
                "learner_id, telegram_user_id, track, price_version, currency, amount, payload, kind, "
                "subscription_until, status, paid_at, refunded_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'paid', ?, null)",
                [
                    charge_id,
                    provider_charge_id,
                    learner_id,
                    telegram_user_id,
                    track,
                    price_version,
                    currency,
                    amount,
                    payload,
                    kind,
                    iso(until) if until else "",
                    at,
                ],
            )
            if cursor.rowcount != 1:
                return None
            if not track:
                return ""
            return self._extend(learner_id, track, period, until, "payment", charge_id, now)

    def _extend(
        self,
        learner_id: int,
        track: str,
        period: timedelta | None,
        until: datetime | None,
        source: str,
        charge_id: str,
        now: datetime,
    ) -> str:
        at = iso(now)
        row = self.db.execute(
            "select max(valid_until) from entitlements where learner_id = ? and track = ? "
            "and revoked_at is null and valid_until > ?",
            [learner_id, track, at],
        ).fetchone()
        start = row[0] or at
        if until is not None:
            end = max(iso(until), start)
        else:
            assert period is not None
            end = iso(datetime.fromisoformat(start) + period) if start != NO_END else NO_END
        self.db["entitlements"].insert(
            {
                "learner_id": learner_id,
                "track": track,
                "starts_at": start,
                "valid_until": end,
                "source": source,
                "charge_id": charge_id,
                "revoked_at": None,
                "ended_at": None,
                "created_at": at,
            }
        )
        return end

    def payment(self, charge_id: str) -> dict[str, Any] | None:
        """One ledger row by ``telegram_payment_charge_id``."""
        rows = list(self.db["payments"].rows_where("telegram_payment_charge_id = ?", [charge_id]))
        return rows[0] if rows else None

    def payments(self, learner_id: int | None = None) -> list[dict[str, Any]]:
        """Ledger rows, oldest first (one learner's, or all)."""
        if learner_id is None:
            return list(self.db["payments"].rows_where(order_by="id"))
        return list(self.db["payments"].rows_where("learner_id = ?", [learner_id], order_by="id"))

    def record_refund(self, charge_id: str, now: datetime) -> bool:
        """Mark a paid charge refunded and revoke the period it bought; ``False`` if not refundable."""
        at = iso(now)
        with self.transaction():
            cursor = self.db.execute(
                "update payments set status = 'refunded', refunded_at = ? "
                "where telegram_payment_charge_id = ? and status = 'paid'",
                [at, charge_id],
            )
            if cursor.rowcount != 1:
                return False
            rows = self.db.execute(
                "select id, learner_id, track, starts_at, valid_until from entitlements "
                "where charge_id = ? and revoked_at is null",
                [charge_id],
            ).fetchall()
            for row_id, learner_id, track, starts, until in rows:
                self.db.execute("update entitlements set revoked_at = ? where id = ?", [at, row_id])
                left = datetime.fromisoformat(until) - max(datetime.fromisoformat(starts), now)
                if left > timedelta(0) and until != NO_END:
                    self._pull_forward(learner_id, track, until, left)
        return True

    def _pull_forward(self, learner_id: int, track: str, after: str, by: timedelta) -> None:
        later = self.db.execute(
            "select id, starts_at, valid_until from entitlements where learner_id = ? and track = ? "
            "and revoked_at is null and starts_at >= ? and valid_until != ?",
            [learner_id, track, after, NO_END],
        ).fetchall()
        for row_id, starts, until in later:
            self.db.execute(
                "update entitlements set starts_at = ?, valid_until = ? where id = ?",
                [
                    iso(datetime.fromisoformat(starts) - by),
                    iso(datetime.fromisoformat(until) - by),
                    row_id,
                ],
            )

    # -- expiry --------------------------------------------------------------------------------

    def expiring(self, now: datetime, within: timedelta) -> list[Expiring]:
        """Learners whose own access to a track ends within ``within`` (not covered by an org grant)."""
        at, horizon = iso(now), iso(now + within)
        rows = self.db.execute(
            "select learner_id, track, max(valid_until) as until from entitlements "
            "where revoked_at is null and valid_until > ? group by learner_id, track "
            "having max(valid_until) <= ? order by until",
            [at, horizon],
        ).fetchall()
        return [
            Expiring(int(lid), track, until)
            for lid, track, until in rows
            if not self._org_covers(lid, track, until)
        ]

    def end_expired(self, now: datetime) -> list[Expiring]:
        """Mark rows whose time is over as ended (once); returns the accesses that ended with them.

        Access already stopped at ``valid_until`` (see :meth:`entitled_tracks`); this only records it,
        for the metrics and the end-of-access notice.
        """
        at = iso(now)
        with self.transaction():
            rows = self.db.execute(
                "select id, learner_id, track, valid_until from entitlements "
                "where revoked_at is null and ended_at is null and valid_until <= ?",
                [at],
            ).fetchall()
            self.db.executemany(
                "update entitlements set ended_at = ? where id = ?", [(at, row[0]) for row in rows]
            )
        ended: dict[tuple[int, str], str] = {}
        for _, learner_id, track, until in rows:
            key = (int(learner_id), track)
            ended[key] = max(until, ended.get(key, ""))
        return [
            Expiring(learner_id, track, until)
            for (learner_id, track), until in ended.items()
            if self.access(learner_id, track, now) is None
        ]

    def _org_covers(self, learner_id: int, track: str, until: str) -> bool:
        row = self.db.execute(
            "select 1 from org_grants g join learner_teams t on t.platform = g.platform "
            "and t.team_id = g.team_id where t.learner_id = ? and g.track = ? and g.revoked_at is null "
            "and g.valid_until > ?",
            [learner_id, track, until],
        ).fetchone()
        return row is not None
