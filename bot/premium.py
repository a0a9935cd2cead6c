"""Premium rules: prices, invoice payloads, pre-checkout checks, granting, refunds and expiry.

Plain code over the :class:`Store` that takes ``now`` as an argument. The chat wording lives in
``bot/chat/premium.py``, the scheduled expiry job in ``bot/jobs/premium.py``, the admin
commands in ``bot/cli/premium.py``. Payments are Telegram Stars (currency ``XTR``).

An invoice's payload names the learner, the track and the price version:
``lb1:<learner>:<version>:<track>``. Telegram hands it back at pre-checkout and with the
payment; a price changed since the invoice was sent makes it stale, and pre-checkout refuses it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.messages import Invoice, Payment
from bot.metrics import PAYMENT_EVENTS
from bot.store import Store
from bot.store.base import iso
from bot.store.premium import NO_END, Price

log = logging.getLogger(__name__)

CURRENCY = "XTR"
PAYLOAD_LIMIT = 128  # bytes: Telegram's limit on an invoice payload
MAX_STARS = 10000
SUBSCRIPTION_DAYS = 30  # Telegram Stars subscriptions renew every 30 days (2592000 s), no other period
RENEW_WINDOW = timedelta(days=3)
"""Learners may buy again (extend) only this close to the end of their access; reminders go out then."""
TRACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
_PAYLOAD = re.compile(r"^lb1:(\d{1,12}):(\d{1,9}):(.+)$")

Refunder = Callable[[int, str, str], Awaitable[None]]
"""Refunds a Telegram Stars charge: ``(telegram user id, telegram_payment_charge_id, subscription)``.

``subscription`` is the charge id of the subscription the charge belongs to (``""`` for a one-off
purchase): it is cancelled first, so it does not renew after the refund.
"""
Teller = Callable[[int, str], Awaitable[None]]
"""Sends a Telegram user a message: ``(telegram user id, text)`` (a private chat's id is the user id)."""


def refund_notice(row: dict) -> str:
    """What a learner is told when an admin refunds their payment."""
    what = f" for {row['track']}" if row.get("track") else ""
    return (
        f"Your payment of {row['amount']} Stars{what} was refunded; the premium access it bought has "
        "ended. /premium shows the tracks, /paysupport answers questions."
    )


class PremiumError(Exception):
    """Something an admin or learner asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class InvoicePayload:
    """What an invoice's payload says: who it was made for, which track, at which price version."""

    learner_id: int
    track: str
    version: int


def encode_payload(learner_id: int, track: str, version: int) -> str:
    """The payload of an invoice for ``learner_id`` buying ``track`` at price ``version``.

    Raises:
        ValueError: the payload would exceed Telegram's 128 bytes (track names are limited to 48).
    """
    payload = f"lb1:{learner_id}:{version}:{track}"
    if len(payload.encode("utf-8")) > PAYLOAD_LIMIT:
        raise ValueError(f"invoice payload for track {track!r} is longer than {PAYLOAD_LIMIT} bytes")
    return payload


def decode_payload(payload: str) -> InvoicePayload | None:
    """Parse a payload made by :func:`encode_payload`; ``None`` for anything else."""
    match = _PAYLOAD.match(payload or "")
    if not match:
        return None
    return InvoicePayload(int(match.group(1)), match.group(3), int(match.group(2)))


def check_track_name(track: str) -> None:
    """Check a track name can be priced (it goes into invoice payloads and button data).

    Raises:
        PremiumError: the name is not 1-48 letters, digits, ``-``, ``_`` or ``.``.
    """
    if not TRACK_NAME.match(track):
        raise PremiumError(
            f"track names with prices must be 1-48 letters, digits, '-', '_' or '.', not {track!r}"
        )


def day(timestamp: str) -> str:
    """A stored timestamp as a date for people (``no end`` for grants without one)."""
    if timestamp == NO_END:
        return "no end date"
    return datetime.fromisoformat(timestamp).strftime("%d %b %Y %H:%M UTC")


@dataclass(frozen=True)
class Paid:
    """The outcome of a payment: the track, the new end of access, or that it was a repeat."""

    track: str
    until: str
    duplicate: bool


class Premium:
    """Premium tracks over the store.

    Example:
        >>> premium = Premium(store)
        >>> premium.set_price("pro", 250, 30, False, now)
        >>> invoice = premium.invoice(learner_id, "pro", now)
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- prices --------------------------------------------------------------------------------

    def set_price(self, track: str, stars: int, period_days: int, subscription: bool, now: datetime) -> Price:
        """Set a premium track's price (a new version; invoices sent before become stale).

        Raises:
            PremiumError: unknown track, bad name, price or period.
        """
        check_track_name(track)
        if track not in self.store.premium_courses():
            raise PremiumError(
                f"no premium course is in track {track!r}; load one first "
                f"(learnbot ingest PATH --premium --track {track})"
            )
        if not 1 <= stars <= MAX_STARS:
            raise PremiumError(f"a price is 1 to {MAX_STARS} Stars, not {stars}")
        if subscription and period_days != SUBSCRIPTION_DAYS:
            raise PremiumError(
                f"Telegram subscriptions renew every {SUBSCRIPTION_DAYS} days; use --period-days 30"
            )
        if not 1 <= period_days <= 3660:
            raise PremiumError(f"the period is 1 to 3660 days, not {period_days}")
        return self.store.set_price(track, stars, period_days, subscription, now)

    # -- buying --------------------------------------------------------------------------------

    def invoice(self, learner_id: int, track: str, now: datetime) -> Invoice:
        """The invoice a learner pays to unlock ``track``.

        Raises:
            PremiumError: not for sale, already unlocked, or the learner may not buy.
        """
        courses = self.store.premium_courses().get(track)
        price = self.store.price(track)
        if not courses or price is None:
            raise PremiumError(f"the track {track!r} is not for sale")
        refusal = self._refusal(learner_id, track, now)
        if refusal:
            raise PremiumError(refusal)
        titles = ", ".join(c.title for c in courses)
        if price.subscription:
            days = SUBSCRIPTION_DAYS
            period = f"{days} days; the subscription renews every {days} days until you cancel it"
        else:
            period = f"{price.period_days} days"
        description = f"Premium track {track}: {titles}. Access for {period}."
        PAYMENT_EVENTS.labels("invoice").inc()
        return Invoice(
            title=f"Premium: {track}"[:32],
            description=description[:255],
            payload=encode_payload(learner_id, track, price.version),
            label=f"{track} ({price.period_days} days)"[:32],
            stars=price.stars,
            subscription_period=SUBSCRIPTION_DAYS * 86400 if price.subscription else 0,
        )

    def _refusal(self, learner_id: int, track: str, now: datetime) -> str:
        if self.store.buyer_blocked(learner_id):
            return "payments from this account are on hold; please contact /paysupport"
        access = self.store.access(learner_id, track, now)
        if access is None:
            return ""
        if access.via_org:
            return f"you already have {track} through your organisation"
        if access.until > iso(now + RENEW_WINDOW):
            return (
                f"you already have {track} until {day(access.until)}; you can renew in the last "
                f"{RENEW_WINDOW.days} days"
            )
        return ""

    def pre_checkout(self, learner_id: int, payment: Payment, now: datetime) -> str:
        """Check a payment before Telegram takes the money; returns ``""`` to accept, else why not."""
        refusal = self._pre_checkout_refusal(learner_id, payment, now)
        PAYMENT_EVENTS.labels("pre_checkout_refused" if refusal else "pre_checkout_ok").inc()
        if refusal:
            log.info("pre-checkout refused for learner %s: %s", learner_id, refusal)
        return refusal

    def _pre_checkout_refusal(self, learner_id: int, payment: Payment, now: datetime) -> str:
        payload = decode_payload(payment.payload)
        if payload is None:
            return "This invoice is not one of mine. Send /premium for a new one."
        if payload.learner_id != learner_id:
            return "This invoice was made for another account. Send /premium for your own."
        if payload.track not in self.store.premium_courses():
            return f"The track {payload.track} is no longer offered. Nothing was charged."
        price = self.store.price(payload.track)
        if price is None or price.version != payload.version:
            return "The price has changed since this invoice was sent. Send /premium for the current price."
        if payment.currency != CURRENCY or payment.amount != price.stars:
            return "The amount does not match the price. Send /premium for a new invoice."
        refusal = self._refusal(learner_id, payload.track, now)
        return f"Sorry, {refusal}." if refusal else ""

    def paid(self, learner_id: int, telegram_user_id: str, payment: Payment, now: datetime) -> Paid:
        """Record a completed payment (once per charge) and grant or extend the access it bought.

        The money is taken by now, so the payment is recorded and granted even if the price changed
        since pre-checkout: the payload's price version says what was paid for.
        """
        payload = decode_payload(payment.payload)
        track = payload.track if payload else ""
        price = self.store.price(track, payload.version) if payload else None
        if payload is None or price is None:
            log.error("payment %s has an unknown payload; recorded without access", payment.charge_id)
        elif payload.learner_id != learner_id:
            log.warning(
                "payment %s for learner %s was made by learner %s",
                payment.charge_id,
                payload.learner_id,
                learner_id,
            )
        renewal = payment.recurring and not payment.first_recurring
        kind = "renewal" if renewal else ("subscription" if payment.recurring else "purchase")
        until = self.store.record_payment(
            charge_id=payment.charge_id,
            provider_charge_id=payment.provider_charge_id,
            learner_id=learner_id,
            telegram_user_id=telegram_user_id,
            track=track if price else "",
            price_version=payload.version if payload else 0,
            currency=payment.currency,
            amount=payment.amount,
            payload=payment.payload,
            kind=kind,
            period=timedelta(days=price.period_days) if price else None,
            until=payment.subscription_until,
            now=now,
        )
        if until is None:
            PAYMENT_EVENTS.labels("duplicate").inc()
            log.info("payment %s delivered again; nothing recorded", payment.charge_id)
            return Paid(track, "", True)
        PAYMENT_EVENTS.labels("paid").inc()
        return Paid(track if price else "", until, False)

    # -- refunds -------------------------------------------------------------------------------

    async def refund(
        self, charge_id: str, refunder: Refunder | None, now: datetime, tell: Teller | None = None
    ) -> dict:
        """Refund a charge through Telegram, record it, revoke the access it bought, tell the payer.

        The returned ledger row carries ``learner_told``: whether ``tell`` delivered the notice (a
        learner who blocked the bot cannot be told; the refund stands).

        Raises:
            PremiumError: the charge is unknown or already refunded, or Telegram refused.
        """
        row = self.store.payment(charge_id.strip())
        if row is None:
            raise PremiumError(f"no payment with charge id {charge_id!r} is in the ledger")
        if row["status"] == "refunded":
            raise PremiumError(f"charge {charge_id} was refunded already ({row['refunded_at']})")
        if refunder is None:
            raise PremiumError("refunds need the Telegram connection (TELEGRAM_BOT_TOKEN)")
        if not str(row["telegram_user_id"] or "").isdigit():  # erased with the learner's data
            raise PremiumError(f"the payer of {charge_id} is no longer known (their data was erased)")
        subscription = ""
        if row["kind"] in ("subscription", "renewal"):
            first = [
                r
                for r in self.store.payments(row["learner_id"])
                if r["payload"] == row["payload"] and r["kind"] == "subscription"
            ]
            subscription = (first[-1] if first else row)["telegram_payment_charge_id"]
        try:
            await refunder(int(row["telegram_user_id"]), row["telegram_payment_charge_id"], subscription)
        except Exception as exc:
            raise PremiumError(f"Telegram refused the refund: {exc}") from exc
        self.record_refund(row["telegram_payment_charge_id"], now)
        row = {**row, "learner_told": False}
        if tell is not None:
            try:
                await tell(int(row["telegram_user_id"]), refund_notice(row))
                row["learner_told"] = True
            except Exception as exc:  # noqa: BLE001 - the refund is done; the notice is a courtesy
                log.warning("refund %s done, but the payer could not be told: %s", charge_id, exc)
        return row

    def record_refund(self, charge_id: str, now: datetime) -> bool:
        """Record a refund done (by us or by Telegram) and revoke its access; ``False`` if nothing to do."""
        done = self.store.record_refund(charge_id, now)
        if done:
            PAYMENT_EVENTS.labels("refund").inc()
        return done
