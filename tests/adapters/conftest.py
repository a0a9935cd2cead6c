"""Fixtures shared by the adapter tests: the local fake Telegram Bot API and fake Slack Web API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.fakes.slack import FakeSlack
from adapters.fakes.telegram import FakeTelegram


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API on 127.0.0.1, for one test."""
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on 127.0.0.1, for one test."""
    async with FakeSlack() as fake:
        yield fake
