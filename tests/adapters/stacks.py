"""The real chat stacks against the local fake servers, set up one way for every test that needs them.

``slack_stack`` runs slack-bolt (our :class:`SlackAdapter`, Events API over HTTP on a free port) with
its Web API client pointed at a :class:`FakeSlack`; ``telegram_stack`` runs python-telegram-bot (our
:class:`TelegramAdapter`, long polling) against a :class:`FakeTelegram`. Given the real core, both
attach the adapter to it as ``learnbot serve`` does; both stop the adapter on exit.

Example:
    >>> async with FakeSlack() as slack, slack_stack(core, slack) as adapter:
    ...     await post(adapter.url, event_request(dm("U1", "What is phishing?")))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from adapters.fakes.telegram import TOKEN, FakeTelegram
from adapters.slack import SlackAdapter
from adapters.telegram import TelegramAdapter
from bot.chat.router import Router
from bot.testing import TestBot

ADMIN_ID = 7
"""The Telegram user id :func:`chat_testbot` makes an admin (the fakes' ``telegram.user(ADMIN_ID, ...)``)."""


def chat_testbot(data_dir: Path, courses: Iterable[Path]) -> TestBot:
    """A test bot for chat-stack tests: the courses loaded, Telegram user 7 an admin, no tight rate limit."""
    bot = TestBot.build(
        data_dir, grounding_threshold=0.3, questions_per_minute=1000, admins=f"telegram:{ADMIN_ID}"
    )
    for folder in courses:
        bot.ingest(folder)
    return bot


@asynccontextmanager
async def slack_stack(core: Any, slack: FakeSlack, **options: Any) -> AsyncIterator[SlackAdapter]:
    """A started :class:`SlackAdapter` for ``core`` (the bot, or a wrapper of it) talking to ``slack``."""
    adapter = SlackAdapter(
        core,
        bot_token=BOT_TOKEN,
        signing_secret=options.pop("signing_secret", SIGNING_SECRET),
        api_url=slack.api_url,
        port=options.pop("port", 0),
        **options,
    )
    if isinstance(core, Router):
        core.attach(adapter)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


@asynccontextmanager
async def telegram_stack(core: Any, server: FakeTelegram, **options: Any) -> AsyncIterator[TelegramAdapter]:
    """A started, long-polling :class:`TelegramAdapter` for ``core`` talking to ``server``."""
    adapter = TelegramAdapter(
        core, token=TOKEN, api_url=server.root, poll_timeout=options.pop("poll_timeout", 1), **options
    )
    if isinstance(core, Router):
        core.attach(adapter)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


async def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` is true (the stacks answer in background tasks), or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
