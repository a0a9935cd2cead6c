"""One question through the console, Telegram and Slack: the same answer text and the same sources."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from adapters.console import ConsoleAdapter
from adapters.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, dm, event_request, post
from adapters.fakes.telegram import TOKEN, FakeTelegram, text_update, user
from adapters.slack import SlackAdapter
from adapters.telegram import TelegramAdapter
from bot.testing import TestBot
from knowledge.models import location

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
QUESTION = "How long must a company account password be?"
pytestmark = pytest.mark.integration


def words(text: str) -> list[str]:
    """The answer's words, whatever the markup (HTML, mrkdwn, console)."""
    return re.findall(r"[\w@.-]+", html.unescape(re.sub(r"<[^>]+>|[*_`]", " ", text)))


async def test_console_telegram_and_slack_agree(tmp_path):
    testbot = TestBot.build(tmp_path / "data", grounding_threshold=0.3)
    testbot.ingest(SAMPLES / "security-basics")
    core = testbot.app.bot

    screen = io.StringIO()
    [reply] = await ConsoleAdapter(core, Console(file=screen, width=200), user="ada").say(QUESTION)
    assert reply.grounded and reply.citations
    sources = [location(c.lesson_title, c.heading) for c in reply.citations]

    async with FakeTelegram() as fake:
        telegram = TelegramAdapter(core, token=TOKEN, api_url=fake.root)
        await telegram.start()
        try:
            fake.push(text_update(user(42, "Ada"), QUESTION))
            [sent] = await fake.wait_for("sendMessage")
        finally:
            await telegram.stop()
    telegram_text = sent.params["text"]

    async with FakeSlack() as slack:
        adapter = SlackAdapter(
            core, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=slack.api_url, port=0
        )
        await adapter.start()
        try:
            await post(adapter.url, event_request(dm("U0ADA", QUESTION)))
            [update] = await slack.wait_for("chat.update")
        finally:
            await adapter.stop()
    slack_text = " ".join(
        block["text"]["text"]
        if block["type"] == "section"
        else " ".join(e["text"] for e in block["elements"])
        for block in update.params["blocks"]
        if block["type"] in ("section", "context")
    )

    answer_words = words(reply.text)
    for rendered in (screen.getvalue(), telegram_text, slack_text):
        assert " ".join(answer_words) in " ".join(words(rendered))
        for source in sources:
            assert " ".join(words(source)) in " ".join(words(rendered))
