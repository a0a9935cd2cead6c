"""Telegram shows an answer as it is written.

In a private chat the growing text goes out as a message draft (``sendMessageDraft``, Bot API 9.3,
python-telegram-bot 22.6+), which Telegram shows as the bot typing that text; elsewhere (groups, or
a library without drafts) one interim message is sent and edited at most once a ``interval`` (Telegram
allows about one edit a second per chat). The final reply, with citations and buttons, is then sent
as usual and the interim message removed.

Example:
    >>> draft = TelegramDraft(application.bot, chat_id, asyncio.get_running_loop(), private=True)
    >>> with streaming(draft.stream()):
    ...     replies = await bot.handle(message)
    >>> await draft.finish()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from adapters.live_draft import WRITING, LiveDraft
from bot.streaming import AHEAD, AnswerStream, to_loop

INTERVAL_S = 1.0
"""Least time between two interim updates of one answer."""
LIMIT = 4000  # Telegram's message limit is 4096 characters
_draft_ids = itertools.count(1)


class TelegramDraft(LiveDraft):
    """The growing answer in one Telegram chat: a message draft in private chats, else an edited message."""

    def __init__(
        self,
        bot: Any,
        chat_id: int | str,
        loop: asyncio.AbstractEventLoop,
        *,
        private: bool,
        thread_id: int | None = None,
        interval: float | None = None,
    ) -> None:
        super().__init__(loop, INTERVAL_S if interval is None else interval, "Telegram", LIMIT)
        self.bot = bot
        self.chat_id = chat_id
        self.drafts = private and hasattr(bot, "send_message_draft")
        self.thread_id = thread_id
        self.draft_id = next(_draft_ids)
        self.message_id: int | None = None

    def stream(self) -> AnswerStream:
        """The callbacks to set around ``Bot.handle()``."""
        return AnswerStream(
            to_loop(self.loop, self._grow),
            lambda ahead: self.loop.call_soon_threadsafe(self._grow, AHEAD["en"].format(n=ahead)),
        )

    async def _show(self, text: str) -> None:
        if self.drafts:
            await self.bot.send_message_draft(
                self.chat_id, self.draft_id, text, message_thread_id=self.thread_id
            )
        elif self.message_id is None:
            sent = await self.bot.send_message(self.chat_id, text + WRITING, message_thread_id=self.thread_id)
            self.message_id = sent.message_id
        else:
            await self.bot.edit_message_text(text + WRITING, chat_id=self.chat_id, message_id=self.message_id)

    async def finish(self) -> None:
        """Stop interim updates and remove the interim message (the final reply follows)."""
        await self._stop_updates()
        if self.message_id is not None:
            with contextlib.suppress(Exception):
                await self.bot.delete_message(self.chat_id, self.message_id)
