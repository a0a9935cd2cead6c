"""Slack shows an answer as it is written.

In a thread (an assistant thread, or a reply thread) the answer streams through Slack's AI-app methods
``chat.startStream`` / ``chat.appendStream`` / ``chat.stopStream`` (slack_sdk's ``chat_stream``
helper); elsewhere the "Looking it up…" placeholder is edited with ``chat.update`` at most once a
``interval``. The final reply (checked text, citations, buttons) then replaces the streamed message.

Example:
    >>> draft = SlackDraft(client, where, asyncio.get_running_loop(), user_id="U1", team_id="T1")
    >>> with streaming(draft.stream()):
    ...     replies = await bot.handle(message)
    >>> where = await draft.finish()  # deliver(client, where, replies) replaces the streamed text
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from adapters.live_draft import WRITING, LiveDraft
from adapters.slack_render import Where
from bot.streaming import AHEAD, AnswerStream, to_loop

INTERVAL_S = 1.0
"""Least time between two interim updates of one answer (Slack allows about one a second per channel)."""


class SlackDraft(LiveDraft):
    """The growing answer in one Slack conversation: streamed in a thread, else an edited placeholder."""

    def __init__(
        self,
        client: Any,
        where: Where,
        loop: asyncio.AbstractEventLoop,
        *,
        user_id: str = "",
        team_id: str = "",
        interval: float | None = None,
    ) -> None:
        super().__init__(loop, INTERVAL_S if interval is None else interval, "Slack")
        self.client = client
        self.where = where
        self.user_id = user_id
        self.team_id = team_id
        self._stream: Any = None

    async def thinking(self) -> None:
        """Show the assistant-thread status ("is thinking…") while the course is searched.

        Only assistant threads (threads in the bot's DM) have a status; Slack clears it when the
        answer is posted. A workspace without the AI-app feature answers with an error, ignored.
        """
        if self.where.thread and self.where.channel.startswith("D"):
            with contextlib.suppress(Exception):
                await self.client.assistant_threads_setStatus(
                    channel_id=self.where.channel, thread_ts=self.where.thread, status="is thinking…"
                )

    def stream(self) -> AnswerStream:
        """The callbacks to set around ``Bot.handle()``."""
        return AnswerStream(
            to_loop(self.loop, self._grow), lambda ahead: self.loop.call_soon_threadsafe(self._waiting, ahead)
        )

    def _waiting(self, ahead: int) -> None:
        if self.where.ts:  # the placeholder says it; the answer itself streams later
            self.loop.create_task(
                self.client.chat_update(
                    channel=self.where.channel, ts=self.where.ts, text=AHEAD["en"].format(n=ahead)
                )
            )

    async def _show(self, text: str) -> None:
        thread = self.where.thread
        if thread and self._stream is None and not self.shown:
            self._stream = await self.client.chat_stream(
                channel=self.where.channel,
                thread_ts=thread,
                recipient_user_id=self.user_id or None,
                recipient_team_id=self.team_id or None,
                buffer_size=1,
            )
        if self._stream is not None:
            if text.startswith(self.shown):  # streams only append
                await self._stream.append(markdown_text=text[len(self.shown) :])
            return
        if self.where.ts:
            await self.client.chat_update(channel=self.where.channel, ts=self.where.ts, text=text + WRITING)

    async def finish(self) -> Where:
        """Stop streaming; returns where the final reply goes (it replaces the streamed message)."""
        await self._stop_updates()
        if self._stream is None:
            return self.where
        stopped = await self._stream.stop()
        ts = (stopped or {}).get("ts") or getattr(self._stream, "_stream_ts", None)
        if self.where.ts:  # the placeholder goes; the streamed message becomes the answer
            with contextlib.suppress(Exception):
                await self.client.chat_delete(channel=self.where.channel, ts=self.where.ts)
        return Where(self.where.channel, self.where.thread, ts=ts)
