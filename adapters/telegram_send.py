"""Replies out to Telegram: HTML messages with inline keyboards, photos, invoices, documents, "typing…".

The Telegram adapter's sending half (:mod:`adapters.telegram` receives): each function takes PTB's
``Bot`` and sends one :class:`Reply`, rendered by :mod:`adapters.telegram_render`.

Example:
    >>> async with typing(application.bot, 12345):
    ...     reply = await slow_answer()
    >>> await deliver(application.bot, 12345, reply)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from telegram import Bot as TelegramBot
from telegram import LinkPreviewOptions
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.telegram_payments import send_invoice
from adapters.telegram_render import CAPTION_LIMIT, TelegramMessage, keyboard, plain_text, render, utf16_len
from bot.messages import Reply

log = logging.getLogger(__name__)
TYPING_AFTER_S = 1.0  # show "typing…" only for replies slower than this
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def chat_id_of(chat_id: str) -> int | str:
    """Telegram's numeric chat ids as ints; ``@channelname`` stays a string."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


async def deliver(bot: TelegramBot, chat_id: int | str, reply: Reply, thread_id: int | None = None) -> None:
    """Send one reply: its HTML messages, image (as the caption's photo when it fits), invoice, document."""
    messages = render(reply)
    if reply.image is not None and len(messages) <= 1:
        caption = messages[0] if messages else TelegramMessage("", keyboard(reply.buttons))
        if utf16_len(caption.html) <= CAPTION_LIMIT:  # a chart with its words under it
            await bot.send_photo(
                chat_id,
                photo=reply.image,
                caption=caption.html or None,
                parse_mode=ParseMode.HTML,
                reply_markup=caption.reply_markup,
                message_thread_id=thread_id,
            )
            return
    for message in messages:
        await send_html(bot, chat_id, message, thread_id)
    if reply.image is not None:
        await bot.send_photo(chat_id, photo=reply.image, message_thread_id=thread_id)
    if reply.invoice is not None:
        await send_invoice(bot, chat_id, reply.invoice, thread_id)
    if reply.document is not None:
        doc = reply.document
        await bot.send_document(chat_id, document=doc.content, filename=doc.name, message_thread_id=thread_id)


async def send_html(
    bot: TelegramBot, chat_id: int | str, message: TelegramMessage, thread_id: int | None
) -> None:
    """Send one rendered message; as plain text if Telegram refuses its HTML (it should not)."""
    try:
        await bot.send_message(
            chat_id,
            message.html,
            parse_mode=ParseMode.HTML,
            reply_markup=message.reply_markup,
            link_preview_options=_NO_PREVIEW,
            message_thread_id=thread_id,
        )
    except BadRequest as exc:
        if "entities" not in str(exc).lower():
            raise
        # Should not happen (the renderer escapes everything), but a reply beats none.
        log.warning("Telegram refused the HTML of a reply (%s); sending it as plain text", exc)
        await bot.send_message(
            chat_id,
            plain_text(message.html),
            reply_markup=message.reply_markup,
            link_preview_options=_NO_PREVIEW,
            message_thread_id=thread_id,
        )


@asynccontextmanager
async def typing(bot: TelegramBot, chat_id: int | str) -> AsyncIterator[None]:
    """Show "typing…" while a slow reply is prepared (Telegram shows it for 5 s per call)."""

    async def keep_typing() -> None:
        await asyncio.sleep(TYPING_AFTER_S)
        while True:
            with suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(4.5)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
