"""``/mydata`` and ``/forget``: a learner's own data, as a file, and its erasure after a confirmation.

``/mydata`` answers only in a direct chat (never in a channel) with a JSON file of every stored row.
``/forget`` explains what goes and what stays, then waits for an explicit confirmation: the
"Erase my data" button, or ``/forget confirm`` typed within :data:`CONFIRM_MINUTES` (for chats
without buttons). Erasing covers every platform identity linked to the learner.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.messages import Button, Document, IncomingMessage, Reply
from bot.rights import erase_learner, erase_message, export_json

if TYPE_CHECKING:
    from bot.core import Bot

Handler = Callable[[IncomingMessage, str], Awaitable[list[Reply]]]
CONFIRM_MINUTES = 10
ONLY_DIRECT = "I only send your data in a direct message. Write /mydata to me privately."


class RightsChat:
    """The data-rights commands of :class:`bot.core.Bot`."""

    def __init__(self, bot: Bot, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.clock = clock
        self._pending: dict[int, tuple[str, float]] = {}  # learner -> (confirmation nonce, expiry)

    def commands(self) -> dict[str, Handler]:
        """Chat commands by name."""
        return {"mydata": self.mydata, "forget": self.forget}

    def buttons(self) -> dict[str, Handler]:
        """Button handlers by callback-data prefix."""
        return {"forget": self.forget_button}

    def _learner(self, message: IncomingMessage) -> int:
        return self.bot.store.learner_for(message.platform, message.user_id, message.display_name)

    async def mydata(self, message: IncomingMessage, argument: str) -> list[Reply]:
        """Send the learner a JSON file of everything stored about them."""
        if not message.direct:
            return [Reply(ONLY_DIRECT)]
        learner_id = self._learner(message)
        content = await asyncio.to_thread(export_json, self.bot.store, learner_id)
        return [
            Reply(
                "Here is everything I store about you, as JSON: your accounts, progress, quiz answers, "
                "review cards, questions, settings, entitlements and payments. /forget erases it.",
                document=Document(f"learnbot-my-data-{learner_id}.json", content, "application/json"),
            )
        ]

    async def forget(self, message: IncomingMessage, argument: str) -> list[Reply]:
        """Ask for confirmation; ``/forget confirm`` after that erases."""
        learner_id = self._learner(message)
        if argument.strip().lower() in ("confirm", "yes"):
            pending = self._pending.get(learner_id)
            if pending is None or pending[1] < self.clock():
                return [Reply("Send /forget first; then confirm within 10 minutes.")]
            return await self._erase(learner_id)
        nonce = secrets.token_hex(4)
        self._pending[learner_id] = (nonce, self.clock() + CONFIRM_MINUTES * 60)
        text = (
            "This erases everything I store about you, on every account you linked (Slack and "
            "Telegram): progress, quiz answers, review cards, questions, settings and entitlements "
            "(premium access ends). Payment records are kept as the law requires, but no longer "
            "linked to you. This cannot be undone.\n"
            f'Press "Erase my data", or send /forget confirm within {CONFIRM_MINUTES} minutes.'
        )
        buttons = [[Button("Erase my data", f"forget:yes:{nonce}"), Button("Cancel", "forget:no")]]
        return [Reply(text, buttons=buttons)]

    async def forget_button(self, message: IncomingMessage, rest: str) -> list[Reply]:
        """The confirmation (``yes:NONCE``) or the cancel (``no``) button."""
        learner_id = self._learner(message)
        answer, _, nonce = rest.partition(":")
        pending = self._pending.get(learner_id)
        if answer == "no":
            self._pending.pop(learner_id, None)
            return [Reply("Cancelled: nothing was erased.")]
        if answer != "yes" or pending is None or pending[0] != nonce or pending[1] < self.clock():
            return [Reply("That confirmation has expired. Send /forget again.")]
        return await self._erase(learner_id)

    async def _erase(self, learner_id: int) -> list[Reply]:
        self._pending.pop(learner_id, None)
        report = await asyncio.to_thread(erase_learner, self.bot.store, learner_id, self.bot)
        return [Reply(erase_message(report))]
