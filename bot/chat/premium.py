"""Chat commands, buttons and payment events of premium tracks: /premium, /terms, /paysupport, /refund.

The rules live in :mod:`bot.premium`; this module turns them into replies. The router registers
:meth:`PremiumChat.commands` and :meth:`PremiumChat.buttons` and hands payment events to
:meth:`PremiumChat.on_payment`. Invoices go out only on Telegram (the only platform with Stars);
elsewhere ``/premium`` lists the tracks and says where to buy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.chat.context import ChatContext, Handler
from bot.messages import Button, IncomingMessage, Reply, StarRefunds
from bot.premium import Premium, PremiumError, day
from bot.store import Store

PAYMENTS_PLATFORM = "telegram"
BUY_ELSEWHERE = (
    "Premium tracks are paid with Telegram Stars: open this bot in Telegram and send /premium "
    "(/link joins your accounts, so what you buy there unlocks here too)."
)
DEFAULT_TERMS = (
    "Premium tracks are paid in Telegram Stars. A purchase unlocks the track's premium courses for the "
    "period shown with the price (a subscription renews every 30 days until you cancel it in Telegram). "
    "Access starts at once and ends when the period ends; buying again in the last days extends it. "
    "If something went wrong, ask /paysupport within 14 days for a refund; a refunded purchase ends "
    "its access."
)
DEFAULT_SUPPORT = (
    "Payment questions and refunds: reply here describing the problem (the date and the track) and an "
    "admin will answer. Telegram's own support cannot help with purchases made in this bot."
)


class PremiumChat:
    """The premium chat handlers.

    Example:
        >>> chat = PremiumChat(store, Premium(store), bot.is_admin)
        >>> bot.commands.update(chat.commands())
    """

    def __init__(
        self,
        store: Store,
        premium: Premium,
        is_admin: Callable[[IncomingMessage], bool],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        refunds: Callable[[], StarRefunds | None] = lambda: None,
    ) -> None:
        self.store = store
        self.premium = premium
        self.is_admin = is_admin
        self.now = now
        self.terms = DEFAULT_TERMS
        self.support = DEFAULT_SUPPORT
        self.refunds = refunds
        """Finds the front door that refunds Stars charges and tells the payer (``None`` until attached)."""

    def commands(self) -> dict[str, Handler]:
        """Slash commands, by name."""
        return {
            "premium": self.premium_command,
            "terms": self.terms_command,
            "paysupport": self.support_command,
            "refund": self.refund_command,
        }

    def buttons(self) -> dict[str, Handler]:
        """Button handlers, by callback-data prefix."""
        return {"premium": self._buy_button}

    # -- commands ------------------------------------------------------------------------------

    async def premium_command(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/premium [TRACK]``: the premium tracks, what they hold, the price and your status."""
        if argument.strip():
            return await self._buy(ctx, argument.strip())
        learner_id = ctx.learner_id
        now = self.now()
        tracks = self.store.premium_courses()
        if not tracks:
            return [Reply("There are no premium tracks yet.")]
        lines = ["Premium tracks:"]
        buttons: list[list[Button]] = []
        for track, courses in tracks.items():
            price = self.store.price(track)
            access = self.store.access(learner_id, track, now)
            lines.append("")
            contents = ", ".join(f"{c.title} ({c.lesson_count} lessons)" for c in courses)
            lines.append(f"{track or '(no track)'}: {contents}")
            if access is not None:
                via = " through your organisation" if access.via_org else ""
                lines.append(f"  Yours{via}, until {day(access.until)}.")
            if price is None:
                lines.append("  Not for sale yet.")
                continue
            every = "every 30 days (subscription)" if price.subscription else f"for {price.period_days} days"
            lines.append(f"  {price.stars} Stars {every}.")
            if access is None or not access.via_org:
                buttons.append([Button(f"Unlock {track}: {price.stars} Stars", f"premium:{track}")])
        if ctx.message.platform != PAYMENTS_PLATFORM:
            lines += ["", BUY_ELSEWHERE]
            buttons = []
        else:
            lines += ["", "Tap a track to pay with Telegram Stars. /terms and /paysupport explain the rest."]
        return [Reply("\n".join(lines), buttons=buttons)]

    async def _buy_button(self, ctx: ChatContext, rest: str) -> list[Reply]:
        return await self._buy(ctx, rest)

    async def _buy(self, ctx: ChatContext, track: str) -> list[Reply]:
        if ctx.message.platform != PAYMENTS_PLATFORM:
            return [Reply(BUY_ELSEWHERE)]
        if not ctx.message.direct:  # an invoice in a group could be paid by anyone
            return [Reply("Invoices go to private chats only: message me directly and send /premium there.")]
        learner_id = ctx.learner_id
        try:
            invoice = self.premium.invoice(learner_id, track, self.now())
        except PremiumError as exc:
            return [Reply(f"Sorry, {exc}. /premium lists the tracks.")]
        return [Reply(f"Here is your invoice for {track}.", invoice=invoice)]

    async def terms_command(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/terms``: the terms of purchase (Telegram requires it of bots that take payments)."""
        return [Reply(self.terms)]

    async def support_command(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/paysupport``: how to get help with a payment (Telegram requires it too)."""
        return [Reply(self.support)]

    async def refund_command(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/refund CHARGE_ID`` (admins): refund a Stars payment and end the access it bought."""
        if not self.is_admin(ctx.message):
            return [Reply("Only admins can refund payments. For help with a payment, send /paysupport.")]
        if not argument.strip():
            return [Reply("Which payment? Send /refund followed by its telegram_payment_charge_id.")]
        try:
            via = self.refunds()
            refunder, tell = (via.refund_star_payment, via.tell) if via is not None else (None, None)
            row = await self.premium.refund(argument.strip(), refunder, self.now(), tell)
        except PremiumError as exc:
            return [Reply(f"Not refunded: {exc}.")]
        track = row["track"] or "(no track)"
        told = "the learner was told" if row["learner_told"] else "the learner could not be told"
        return [
            Reply(
                f"Refunded {row['amount']} Stars for {track} (charge "
                f"{row['telegram_payment_charge_id']}); its access has ended and {told}."
            )
        ]

    # -- payment events ------------------------------------------------------------------------

    async def on_payment(self, ctx: ChatContext) -> list[Reply]:
        """A pre-checkout question, a completed payment or a refund from the platform."""
        payment = ctx.message.payment
        assert payment is not None
        learner_id = ctx.learner_id
        now = self.now()
        if payment.kind == "pre_checkout":
            refusal = self.premium.pre_checkout(learner_id, payment, now)
            return [Reply(refusal, payment_ok=not refusal)]
        if payment.kind == "refunded":
            if self.premium.record_refund(payment.charge_id, now):
                return [Reply("Your payment was refunded; the premium access it bought has ended.")]
            return []
        paid = self.premium.paid(learner_id, ctx.message.user_id, payment, now)
        if paid.duplicate:
            return []  # confirmed already, when it first arrived
        if not paid.track:
            return [
                Reply(
                    "I received your payment but could not match it to a track. It is recorded; "
                    "/paysupport will sort it out."
                )
            ]
        courses = self.store.premium_courses().get(paid.track, [])
        lines = [f"Thank you! {paid.track} is unlocked until {day(paid.until)}."]
        if payment.recurring and not payment.first_recurring:
            lines = [f"Your subscription to {paid.track} renewed: unlocked until {day(paid.until)}."]
        if courses:
            lines.append("Now open to you:")
            lines += [f"- {c.title} (/enroll {c.course_id})" for c in courses]
        return [Reply("\n".join(lines))]
