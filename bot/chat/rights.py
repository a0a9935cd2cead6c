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
from collections.abc import Callable

from bot.chat.context import ChatContext, Handler
from bot.messages import Button, Document, Reply
from bot.rights import erase_learner, erase_message, export_json
from bot.store import Store
from bot.store.rights import EraseReport

CONFIRM_MINUTES = 10
ONLY_DIRECT = "I only send your data in a direct message. Write /mydata to me privately."


class RightsChat:
    """The data-rights commands of the router.

    Args:
        store: The store.
        forget: Drops an erased learner from memory (the router's ``forget``).
        clock: Monotonic seconds (confirmations expire after :data:`CONFIRM_MINUTES`).
    """

    def __init__(
        self,
        store: Store,
        forget: Callable[[EraseReport], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.forget_in_memory = forget
        self.clock = clock

    def commands(self) -> dict[str, Handler]:
        """Chat commands by name."""
        return {"mydata": self.mydata, "forget": self.forget}

    def buttons(self) -> dict[str, Handler]:
        """Button handlers by callback-data prefix."""
        return {"forget": self.forget_button}

    async def mydata(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """Send the learner a JSON file of everything stored about them."""
        if not ctx.message.direct:
            return [Reply(ONLY_DIRECT)]
        learner_id = ctx.learner_id
        content = await asyncio.to_thread(export_json, self.store, learner_id)
        return [
            Reply(
                "Here is everything I store about you, as JSON: your accounts, progress, quiz answers, "
                "review cards, questions, settings, entitlements and payments. /forget erases it.",
                document=Document(f"learnbot-my-data-{learner_id}.json", content, "application/json"),
            )
        ]

    async def forget(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """Ask for confirmation; ``/forget confirm`` after that erases."""
        learner_id = ctx.learner_id
        if argument.strip().lower() in ("confirm", "yes"):
            pending = ctx.state.confirmations.get(learner_id)
            if pending is None or pending[1] < self.clock():
                return [Reply("Send /forget first; then confirm within 10 minutes.")]
            return await self._erase(ctx)
        nonce = secrets.token_hex(4)
        ctx.state.confirmations[learner_id] = (nonce, self.clock() + CONFIRM_MINUTES * 60)
        text = (
            "This erases everything I store about you, on every account you linked (Slack and "
            "Telegram): progress, quiz answers, review cards, questions, settings and entitlements "
            "(premium access ends). Payment records are kept as the law requires, but no longer "
            "linked to you. This cannot be undone.\n"
            f'Press "Erase my data", or send /forget confirm within {CONFIRM_MINUTES} minutes.'
        )
        buttons = [[Button("Erase my data", f"forget:yes:{nonce}"), Button("Cancel", "forget:no")]]
        return [Reply(text, buttons=buttons)]

    async def forget_button(self, ctx: ChatContext, rest: str) -> list[Reply]:
        """The confirmation (``yes:NONCE``) or the cancel (``no``) button."""
        learner_id = ctx.learner_id
        answer, _, nonce = rest.partition(":")
        pending = ctx.state.confirmations.get(learner_id)
        if answer == "no":
            ctx.state.confirmations.pop(learner_id, None)
            return [Reply("Cancelled: nothing was erased.")]
        if answer != "yes" or pending is None or pending[0] != nonce or pending[1] < self.clock():
            return [Reply("That confirmation has expired. Send /forget again.")]
        return await self._erase(ctx)

    async def _erase(self, ctx: ChatContext) -> list[Reply]:
        ctx.state.confirmations.pop(ctx.learner_id, None)
        report = await asyncio.to_thread(erase_learner, self.store, ctx.learner_id, self.forget_in_memory)
        return [Reply(erase_message(report))]
