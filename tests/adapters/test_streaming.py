"""Answers shown as they are written: console, Slack (streaming methods or edited placeholder)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from adapters import slack_stream, telegram_stream
from adapters.console import ConsoleAdapter
from adapters.fakes.slack import dm, event_request, mention, post
from adapters.fakes.telegram import text_update, user
from bot.testing import FakeGenerator, TestBot
from tests.adapters.stacks import slack_stack, telegram_stack

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


class StreamingFake(FakeGenerator):
    """The fake's answer, handed out a word at a time with a short pause (a model writing it)."""

    def stream(self, question, passages, history, language, cancel=None):  # noqa: ANN001, ANN201
        words = self.generate(question, passages, history, language).split(" ")
        for n, word in enumerate(words):
            time.sleep(0.03)
            yield word if n == 0 else " " + word


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = TestBot.build(tmp_path_factory.mktemp("data"), generator=StreamingFake(), grounding_threshold=0.3)
    bot.ingest(SAMPLES / "security-basics")
    return bot


@pytest.fixture(autouse=True)
def _fast_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_stream, "INTERVAL_S", 0.01)


async def test_the_console_shows_the_answer_as_it_is_written_then_once(testbot):
    for terminal in (True, False):
        out = io.StringIO()
        console = ConsoleAdapter(
            testbot.app.bot, Console(file=out, width=200, force_terminal=terminal), user="streamer"
        )
        [reply] = await console.say("What is phishing?")
        printed = out.getvalue()
        draft = reply.text.split(" [1]")[0]
        assert reply.citations and printed.count("Sources:") == 1
        if terminal:  # the draft was drawn as it grew, then the cited reply printed
            assert printed.index(draft[:20]) < printed.rindex("Sources:")
        else:  # no terminal: no draft, only the reply
            assert printed.count(draft[:20]) == 1


async def test_a_slack_dm_edits_the_placeholder_then_replaces_it_with_the_cited_answer(testbot, slack):
    async with slack_stack(testbot.app.bot, slack) as adapter:
        await post(adapter.url, event_request(dm("U0STR", "What is phishing?")))
        await slack.wait_for("chat.update", count=3)
        updates = slack.calls_to("chat.update")
        while "blocks" not in updates[-1].params:
            await slack.wait_for("chat.update", count=len(updates) + 1)
            updates = slack.calls_to("chat.update")
    interim = [u for u in updates if "blocks" not in u.params]
    assert len(interim) >= 2 and all(u.params["text"].endswith(slack_stream.WRITING) for u in interim)
    final = updates[-1].params
    assert "Sources:" in final["text"] and final["ts"] == interim[0].params["ts"]


async def test_a_slack_thread_streams_with_the_ai_app_methods_then_gets_the_cited_answer(testbot, slack):
    first = mention("U0STR", "What should I do with a suspicious phishing email?")
    async with slack_stack(testbot.app.bot, slack) as adapter:
        await post(adapter.url, event_request(first))
        await slack.wait_for("chat.stopStream")
        await slack.wait_for("chat.update")
    [start] = slack.calls_to("chat.startStream")
    assert start.params["thread_ts"] == first["ts"]
    appended = [c.params["chunks"][0]["text"] for c in slack.calls_to("chat.appendStream")]
    assert len(appended) >= 2 and start.params["chunks"][0]["text"] + "".join(appended) == (
        "Be suspicious of anything you did not expect: an invoice from a supplier you do not deal with, "
        "a shared document you were not waiting for, or a password reset you did not request. [1]"
    )
    [final] = slack.calls_to("chat.update")
    assert "Sources:" in final.params["text"] and final.params["blocks"]
    assert [c.method for c in slack.calls].count("chat.delete") == 1  # the placeholder went


@pytest.fixture(autouse=True)
def _fast_telegram_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_stream, "INTERVAL_S", 0.01)


async def test_a_telegram_private_chat_gets_drafts_then_the_cited_answer_with_buttons(testbot, server):
    async with telegram_stack(testbot.app.bot, server):
        server.push(text_update(user(4242), "What is phishing?"))
        [final] = await server.wait_for("sendMessage")
    drafts = server.calls_to("sendMessageDraft")
    assert len(drafts) >= 2 and len({d.params["draft_id"] for d in drafts}) == 1
    assert len(drafts[-1].params["text"]) > len(drafts[0].params["text"])
    assert "[1]" in final.params["text"] and "reply_markup" in final.params  # citations and buttons


async def test_a_telegram_group_gets_an_edited_message_then_the_cited_answer(testbot, server):
    update = text_update(user(4343), "What is phishing?")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Security"}
    async with telegram_stack(testbot.app.bot, server):
        server.push(update)
        await server.wait_for("deleteMessage")
        sent = await server.wait_for("sendMessage", count=2)
    assert not server.calls_to("sendMessageDraft")
    interim, final = sent
    edits = server.calls_to("editMessageText")
    assert interim.params["text"].endswith(telegram_stream.WRITING) and len(edits) >= 1
    assert "[1]" in final.params["text"] and "reply_markup" in final.params


async def test_an_assistant_thread_shows_thinking_then_streams(testbot, slack):
    question = dm("U0STR", "What is phishing?", thread_ts="1700000000.000100")
    async with slack_stack(testbot.app.bot, slack) as adapter:
        await post(adapter.url, event_request(question))
        await slack.wait_for("chat.stopStream")
        await slack.wait_for("chat.update")
    [status] = slack.calls_to("assistant.threads.setStatus")
    assert status.params["status"] == "is thinking…" and status.params["thread_ts"] == "1700000000.000100"
    methods = [c.method for c in slack.calls]
    assert methods.index("assistant.threads.setStatus") < methods.index("chat.startStream")
