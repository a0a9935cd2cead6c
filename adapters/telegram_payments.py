"""Telegram Stars payments for the Telegram adapter: invoices out, payment updates in.

- An :class:`Invoice` on a reply goes out with ``sendInvoice`` (currency ``XTR``, no provider
  token); a subscription goes as an invoice link (``createInvoiceLink`` with
  ``subscription_period``, since ``sendInvoice`` cannot carry one) under a "Subscribe" button.
- A ``pre_checkout_query`` becomes a ``pre_checkout`` :class:`Payment` for the core, answered
  within Telegram's 10 seconds (refused, with a reason, if the core is slower or fails).
- A ``successful_payment`` message (first payment or subscription renewal) and a
  ``refunded_payment`` message become ``paid`` and ``refunded`` payments.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import (
    Bot as TelegramBot,
)
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    Update,
)
from telegram.error import TelegramError

from bot.messages import IncomingMessage, Invoice, Payment, Reply

log = logging.getLogger(__name__)
CURRENCY = "XTR"
ANSWER_WITHIN_S = 8.0  # Telegram cancels a checkout not answered within 10 s
SLOW = "Sorry, I could not check this payment in time. Nothing was charged; please try again."


async def send_invoice(bot: TelegramBot, chat_id: int | str, invoice: Invoice, thread_id: int | None) -> None:
    """Send an invoice in Telegram Stars (a subscription as a link button)."""
    prices = [LabeledPrice(invoice.label, invoice.stars)]
    if invoice.subscription_period:
        link = await bot.create_invoice_link(
            title=invoice.title,
            description=invoice.description,
            payload=invoice.payload,
            currency=CURRENCY,
            prices=prices,
            subscription_period=invoice.subscription_period,
        )
        button = InlineKeyboardButton(f"Subscribe: {invoice.stars} Stars / 30 days", url=link)
        await bot.send_message(
            chat_id,
            f"{invoice.title}\n{invoice.description}",
            reply_markup=InlineKeyboardMarkup([[button]]),
            message_thread_id=thread_id,
        )
        return
    await bot.send_invoice(
        chat_id,
        title=invoice.title,
        description=invoice.description,
        payload=invoice.payload,
        currency=CURRENCY,
        prices=prices,
        message_thread_id=thread_id,
    )


def pre_checkout_message(update: Update, query: PreCheckoutQuery) -> IncomingMessage:
    """The core's view of a pre-checkout query (the user's private chat is their user id)."""
    payment = Payment("pre_checkout", query.invoice_payload, query.currency, query.total_amount)
    return IncomingMessage(
        platform="telegram",
        user_id=str(query.from_user.id),
        chat_id=str(query.from_user.id),
        display_name=query.from_user.full_name,
        delivery_id=str(update.update_id),
        locale=query.from_user.language_code or "",
        payment=payment,
    )


async def answer_pre_checkout(handle, update: Update) -> None:  # noqa: ANN001 - Bot.handle
    """Ask the core, then answer Telegram in time: ok, or refused with the core's reason."""
    query = update.pre_checkout_query
    if query is None:
        return
    try:
        replies = await asyncio.wait_for(handle(pre_checkout_message(update, query)), ANSWER_WITHIN_S)
    except TimeoutError:
        log.warning("pre-checkout %s not checked in time; refused", query.id)
        replies = [Reply(SLOW, payment_ok=False)]
    verdict = next((r for r in replies if r.payment_ok is not None), None)
    try:
        if verdict is not None and verdict.payment_ok:
            await query.answer(ok=True)
        else:
            reason = verdict.text if verdict is not None and verdict.text else SLOW
            await query.answer(ok=False, error_message=reason[:255])
    except TelegramError as exc:
        log.warning("could not answer pre-checkout query %s: %s", query.id, exc)


def payment_message(update: Update, message: Message) -> IncomingMessage | None:
    """The core's view of a ``successful_payment`` or ``refunded_payment`` service message."""
    user = message.from_user or update.effective_user
    if user is None:
        return None
    if message.successful_payment is not None:
        paid = message.successful_payment
        payment = Payment(
            "paid",
            paid.invoice_payload,
            paid.currency,
            paid.total_amount,
            charge_id=paid.telegram_payment_charge_id,
            provider_charge_id=paid.provider_payment_charge_id or "",
            subscription_until=paid.subscription_expiration_date,
            recurring=bool(paid.is_recurring),
            first_recurring=bool(paid.is_first_recurring),
        )
    elif message.refunded_payment is not None:
        refunded = message.refunded_payment
        payment = Payment(
            "refunded",
            refunded.invoice_payload,
            refunded.currency,
            refunded.total_amount,
            charge_id=refunded.telegram_payment_charge_id,
        )
    else:
        return None
    return IncomingMessage(
        platform="telegram",
        user_id=str(user.id),
        chat_id=str(message.chat_id),
        display_name=user.full_name,
        message_id=str(message.message_id),
        delivery_id=str(update.update_id),
        locale=user.language_code or "",
        payment=payment,
    )
