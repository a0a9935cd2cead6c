"""What Slack's and Telegram's growing answers share: interim updates at most once an interval.

The answer chain reports the whole text so far on every new piece; a draft keeps only the latest and
one task shows it, waiting ``interval`` between two updates, so a fast model never floods a chat.
A platform's draft says how to show the text (:meth:`LiveDraft._show`) and what it does at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)
WRITING = " …"
"""Appended to an interim message while the answer is still being written."""


class LiveDraft:
    """The latest text of a growing answer and the one task that shows it, throttled.

    Args:
        loop: The event loop the adapter runs on (pieces arrive from a worker thread).
        interval: Least seconds between two interim updates.
        platform: Named in the log line when an interim update fails.
        limit: Longest text shown (the platform's message limit), or ``None``.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float, platform: str, limit: int | None = None
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.platform = platform
        self.limit = limit
        self.latest = ""
        self.shown = ""
        self.updates = 0
        self._task: asyncio.Task | None = None

    def _grow(self, text: str) -> None:
        self.latest = text[: self.limit]
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        while self.latest != self.shown:
            text = self.latest
            try:
                await self._show(text)
            except Exception:  # noqa: BLE001 - a failed interim update must not lose the answer
                log.warning("%s interim update failed", self.platform, exc_info=True)
                return
            self.shown = text
            self.updates += 1
            await asyncio.sleep(self.interval)

    async def _stop_updates(self) -> None:
        """Cancel the update in flight, if any, and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _show(self, text: str) -> None:
        raise NotImplementedError
