"""The real python-telegram-bot Application against a local fake Bot API, talking to the real core."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import socket
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest

from adapters.fakes.telegram import TOKEN, FakeTelegram, callback_update, document_update, text_update, user
from adapters.telegram import TelegramAdapter, TelegramUnreachable
from adapters.telegram_render import MESSAGE_LIMIT, render, utf16_len
from adapters.telegram_webhook import MAX_BODY
from bot.chat.texts import COMMANDS
from bot.messages import Button, IncomingMessage, Reply, StarRefunds
from bot.testing import TestBot
from knowledge.answer import Citation
from tests.adapters.stacks import chat_testbot, telegram_stack

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
ADA = user(42, "Ada")
ADMIN = user(7, "Grace")
SECRET = "webhook-secret_123"
integration = pytest.mark.integration


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    return chat_testbot(tmp_path_factory.mktemp("data"), [SAMPLES / "security-basics"])


@pytest.fixture
async def telegram(server, testbot) -> AsyncIterator[TelegramAdapter]:
    async with telegram_stack(testbot.app.bot, server) as adapter:
        yield adapter


class Recorder:
    """The real core, with every message it received kept for inspection."""

    def __init__(self, core) -> None:
        self.core = core
        self.messages: list[IncomingMessage] = []

    async def handle(self, message: IncomingMessage, notify=None) -> list[Reply]:
        self.messages.append(message)
        return await self.core.handle(message, notify)


class Scripted:
    """A stand-in core that answers every message with the same replies (or raises on "boom")."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def handle(self, message: IncomingMessage, notify=None) -> list[Reply]:
        if message.text == "boom":
            raise RuntimeError("the core broke")
        return self.replies


class TelegramHTML(HTMLParser):
    """Checks a message is HTML Telegram accepts: known tags, balanced, entities complete."""

    ALLOWED = {"b", "strong", "i", "em", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        assert tag in self.ALLOWED, tag
        self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text.append(data)

    @classmethod
    def text_of(cls, markup: str) -> str:
        assert not re.search(r"&(?!(?:lt|gt|amp|quot|#\d+);)", markup), "a bare or cut entity"
        assert "<" not in re.sub(r"</?(?:b|i|a|code|pre)>", "", markup), "a stray '<'"
        parser = cls()
        parser.feed(markup)
        parser.close()
        assert not parser.stack, f"unclosed {parser.stack}"
        return "".join(parser.text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def settle(seconds: float = 0.3) -> None:
    """Give the bot time to make calls it should not make."""
    await asyncio.sleep(seconds)


# -- conversations ---------------------------------------------------------------------------


@integration
async def test_start_greets_the_learner(server, telegram):
    server.push(text_update(ADA, "/start"))
    [sent] = await server.wait_for("sendMessage")
    assert sent.params["chat_id"] == "42"
    assert "Hi Ada!" in sent.params["text"]
    assert sent.params["parse_mode"] == "HTML"


@integration
async def test_deep_link_payload_reaches_the_core_as_the_argument(server, testbot):
    recorder = Recorder(testbot.app.bot)
    async with telegram_stack(recorder, server):
        server.push(text_update(ADA, "/start course-security-basics"))
        await server.wait_for("sendMessage")
    [message] = recorder.messages
    assert message.text == "/start course-security-basics"
    assert (message.platform, message.user_id, message.chat_id, message.display_name) == (
        "telegram",
        "42",
        "42",
        "Ada",
    )
    bot_id, _, update_id = message.delivery_id.partition(":")
    assert message.locale == "en" and bot_id == TOKEN.split(":")[0] and update_id.isdigit()


@integration
async def test_question_gets_an_html_answer_with_sources_and_feedback_buttons(server, telegram):
    server.push(text_update(ADA, "How many random words should a passphrase have?"))
    [sent] = await server.wait_for("sendMessage")
    text = sent.params["text"]
    assert "[1]" in text and "<b>Sources</b>" in text
    assert "[1] Passwords" in TelegramHTML.text_of(text)
    labels = [b["text"] for row in sent.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Helpful", "Not helpful"]


@integration
async def test_button_press_is_answered_and_reaches_the_core(server, telegram, testbot):
    server.push(text_update(ADA, "What should I do with a suspicious phishing email?"))
    [answer] = await server.wait_for("sendMessage")
    helpful = answer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    press = callback_update(ADA, helpful)
    server.push(press)
    [answered] = await server.wait_for("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    thanks = (await server.wait_for("sendMessage", 2))[1]
    assert "Thanks for the feedback" in thanks.params["text"]
    assert testbot.app.store.questions()[-1]["feedback"] == "up"


@integration
async def test_an_expired_button_is_still_answered(server, telegram):
    server.push(callback_update(ADA, "feedback:999999:up"))
    await server.wait_for("answerCallbackQuery")
    [sent] = await server.wait_for("sendMessage")
    assert "expired" in sent.params["text"]


@integration
async def test_a_long_answer_is_split_into_valid_html_messages(server):
    paragraph = "Phishing <mails> & fake logins trick people; check the sender & the link. "
    body = "\n\n".join(paragraph * (i % 5 + 1) for i in range(60))
    assert len(body) >= 10_000
    citation = Citation(1, "security-basics", "phishing", "Phishing & you", "Spot <it>", "01.md", 1.0)
    reply = Reply(body, [citation], [[Button("Helpful", "feedback:1:up")]])
    async with telegram_stack(Scripted(reply), server):
        server.push(text_update(ADA, "tell me everything"))
        await server.wait_for("sendMessage", 3)
        await settle()
    sent = server.calls_to("sendMessage")
    assert len(sent) >= 3
    texts = [TelegramHTML.text_of(s.params["text"]) for s in sent]
    assert all(utf16_len(s.params["text"]) <= MESSAGE_LIMIT for s in sent)
    assert [("reply_markup" in s.params) for s in sent] == [False] * (len(sent) - 1) + [True]
    assert " ".join(" ".join(texts).split()).startswith(" ".join(body.split()))
    assert texts[-1].endswith("Sources\n[1] Phishing & you > Spot <it>")


@integration
async def test_html_special_characters_are_escaped(server):
    reply = Reply('Never paste <script> tags & "secrets" into chats.')
    async with telegram_stack(Scripted(reply), server):
        server.push(text_update(ADA, "hi"))
        [sent] = await server.wait_for("sendMessage")
    assert sent.params["text"] == 'Never paste &lt;script&gt; tags &amp; "secrets" into chats.'


@integration
async def test_a_duplicate_update_is_handled_once(server, testbot):
    update = text_update(ADA, "/help")
    recorder = Recorder(testbot.app.bot)
    async with telegram_stack(recorder, server):
        server.push(update, update)  # one getUpdates batch carrying the same update twice
        await server.wait_for("sendMessage")
        await settle()
    assert len(server.calls_to("sendMessage")) == 1
    assert len(recorder.messages) == 1, "the adapter's own memory stops the repeat before the core"
    # A restarted adapter has forgotten its recent ids; the core's delivery log still knows.
    async with telegram_stack(testbot.app.bot, server):
        server.push(update, text_update(ADA, "/courses"))
        await server.wait_for("sendMessage", 2)
        await settle()
    assert [c.params["text"].split("\n")[0] for c in server.calls_to("sendMessage")][1:] == ["Courses:"]


@integration
async def test_the_command_menu_is_set_in_english_and_chinese(server, telegram):
    english, chinese = server.calls_to("setMyCommands")
    assert "language_code" not in english.params and chinese.params["language_code"] == "zh"
    assert [c["command"] for c in english.params["commands"]] == list(COMMANDS)
    assert [c["command"] for c in chinese.params["commands"]] == list(COMMANDS)
    assert chinese.params["commands"][0]["description"] != english.params["commands"][0]["description"]


@integration
async def test_an_admin_document_is_downloaded_through_get_file_and_loaded(server, testbot):
    content = b"# Wi-Fi safety\n\nPublic Wi-Fi is shared with strangers; use the company VPN on it.\n"
    server.add_file("doc-1", content, "documents/file_1.md")
    recorder = Recorder(testbot.app.bot)
    async with telegram_stack(recorder, server):
        server.push(document_update(ADMIN, "doc-1", "wifi-safety.md", len(content)))
        progress, sent = await server.wait_for("sendMessage", count=2)
        [message] = recorder.messages
        assert message.file is not None and (message.file.name, message.file.size) == (
            "wifi-safety.md",
            len(content),
        )
        assert await message.file.fetch() == content
    assert server.calls_to("getFile")[0].params["file_id"] == "doc-1"
    assert "Loading wifi-safety.md" in progress.params["text"], "a progress message comes first"
    assert "Loaded course" in sent.params["text"], sent.params["text"]


@integration
async def test_a_learner_document_is_refused_without_downloading_it(server, telegram):
    server.add_file("doc-2", b"# notes\n", "documents/file_2.md")
    server.push(document_update(ADA, "doc-2", "notes.md", 8))
    [sent] = await server.wait_for("sendMessage")
    assert "Only admins" in sent.params["text"]
    assert not server.calls_to("getFile")


@integration
async def test_a_failing_handler_apologises_and_the_bot_keeps_serving(server, testbot, monkeypatch):
    async def broken(message, argument):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(testbot.app.bot.commands, "broken", broken)
    async with telegram_stack(testbot.app.bot, server):
        server.push(text_update(ADA, "/broken"))
        [apology] = await server.wait_for("sendMessage")
        server.push(text_update(ADA, "/courses"))
        courses = (await server.wait_for("sendMessage", 2))[1]
    assert apology.params["text"].startswith("Sorry, something went wrong")
    assert courses.params["text"].startswith("Courses:")


@integration
async def test_a_core_that_raises_still_gets_an_apology_out(server):
    core = Scripted(Reply("fine"))
    async with telegram_stack(core, server):
        server.push(text_update(ADA, "boom"))
        await server.wait_for("sendMessage")
        server.push(text_update(ADA, "hello"))
        await server.wait_for("sendMessage", 2)
    assert [c.params["text"][:5] for c in server.calls_to("sendMessage")] == ["Sorry", "fine"]


@integration
async def test_a_reply_with_an_image_is_sent_as_a_photo(server):
    png = b"\x89PNG\r\n\x1a\nfake chart"
    reply = Reply(
        "Your team this week", image=png, buttons=[[Button("Details", url="https://example.com/d")]]
    )
    async with telegram_stack(Scripted(reply), server):
        server.push(text_update(ADMIN, "/digest"))
        [photo] = await server.wait_for("sendPhoto")
    assert photo.files["photo"] == png
    assert photo.params["caption"] == "Your team this week"
    assert photo.params["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://example.com/d"
    assert not server.calls_to("sendMessage")


@integration
async def test_send_pushes_a_reply_to_a_chat(server, telegram):
    await telegram.send("42", Reply("A quiz is due: 3 questions on passwords."))
    [sent] = server.calls_to("sendMessage")
    assert sent.params["chat_id"] == "42" and sent.params["text"].startswith("A quiz is due")


# -- webhook mode ----------------------------------------------------------------------------


@integration
async def test_webhook_accepts_only_requests_with_the_secret_token(server, testbot, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/updates"
    webhook = {"webhook_url": url, "webhook_secret": SECRET, "webhook_port": port}
    async with telegram_stack(testbot.app.bot, server, **webhook), aiohttp.ClientSession() as http:
        [hook] = server.calls_to("setWebhook")
        assert hook.params["url"] == url and hook.params["secret_token"] == SECRET
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(url, json=text_update(ADA, "/help"), headers=headers) as response:
                assert response.status == 403
        await settle()
        assert not server.calls_to("sendMessage")
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, json=text_update(ADA, "/help"), headers=good) as response:
            assert response.status == 200
        [sent] = await server.wait_for("sendMessage")
    assert "I answer questions" in sent.params["text"]
    assert not server.calls_to("getUpdates"), "webhook mode does not poll"
    assert TOKEN not in caplog.text and SECRET not in caplog.text
    assert "[redacted]" in caplog.text


@integration
async def test_the_webhook_server_is_ours_and_refuses_what_is_not_an_update(server, testbot):
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/updates"
    webhook = {"webhook_url": url, "webhook_secret": SECRET, "webhook_port": port}
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    refusals = [
        ({**good, "X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}, b"{}", 403),
        (good, b"not json", 400),
        (good, b'{"no_update_id": true}', 400),
        ({**good, "Content-Type": "text/plain"}, b"{}", 415),
        (good, b"[" + b" " * MAX_BODY + b"]", 413),
    ]
    async with telegram_stack(testbot.app.bot, server, **webhook) as adapter, aiohttp.ClientSession() as http:
        assert adapter.application.updater is None, "PTB runs without its own webhook server"
        for headers, body, status in refusals:
            async with http.post(url, data=body, headers=headers) as response:
                assert response.status == status, (body[:20], status)
        async with http.get(url) as response:
            assert response.status == 405
        async with http.post(url + "/", json=text_update(ADA, "/help"), headers=good) as response:
            assert response.status == 200, "a trailing slash is the same path"
        await server.wait_for("sendMessage")
    with socket.socket() as taken:  # the port is in use: start fails, and leaves nothing running
        taken.bind(("127.0.0.1", port))
        taken.listen()
        adapter = TelegramAdapter(testbot.app.bot, token=TOKEN, api_url=server.root, **webhook)
        with pytest.raises(OSError):
            await adapter.start()
        assert not adapter.application.running
    assert len(server.calls_to("setWebhook")) == 1, "Telegram is pointed at the URL only once it listens"


def test_webhook_mode_requires_a_valid_secret(testbot):
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        TelegramAdapter(testbot.app.bot, token=TOKEN, webhook_url="https://example.com/hook")
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        TelegramAdapter(testbot.app.bot, token=TOKEN, webhook_url="https://e.com/h", webhook_secret="a b")


def test_a_token_is_required(testbot):
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN"):
        TelegramAdapter(testbot.app.bot, token="")


def test_serve_builds_the_adapter_from_the_token_and_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("LEARNBOT_TELEGRAM_WEBHOOK_SECRET", SECRET)
    app = TestBot.build(
        tmp_path / "data",
        telegram_api_url="http://127.0.0.1:8081/",
        telegram_webhook_url="https://bot.example.com/tg",
        telegram_webhook_port=9000,
    ).app
    [adapter] = app.chat_adapters("telegram")
    assert (adapter.mode, adapter.webhook_port, adapter.api_root) == (
        "webhook",
        9000,
        "http://127.0.0.1:8081",
    )
    assert adapter.application.bot.base_url == f"http://127.0.0.1:8081/bot{TOKEN}"
    assert app.bot.capable(StarRefunds) is adapter, "attached: the admin's /refund goes through it"


# -- rendering -------------------------------------------------------------------------------


def test_chinese_text_without_spaces_is_split_within_the_limit():
    body = "钓鱼邮件会伪装成可信的发件人" * 800  # no spaces, no punctuation to cut at
    parts = render(Reply(body + " & more"), limit=1000)
    assert len(parts) > 10 and all(utf16_len(p.html) <= 1000 for p in parts)
    assert "".join(html.unescape(p.html) for p in parts).replace(" ", "") == (body + "&more")


def test_entities_are_never_cut_and_bad_buttons_are_left_out():
    parts = render(Reply("&" * 50, buttons=[[Button("x" * 5, "d" * 65), Button("ok", "fine")]]), limit=12)
    assert all(TelegramHTML.text_of(p.html) for p in parts)
    assert "".join(p.html for p in parts) == "&amp;" * 50
    [[button]] = parts[-1].reply_markup.inline_keyboard
    assert button.callback_data == "fine"


@integration
async def test_a_new_bot_on_the_same_data_dir_is_not_taken_for_repeats(server, testbot):
    """Issue 14 row 17: update ids count per bot, so the durable dedupe key names the bot."""
    update = text_update(ADA, "/help", update_id=7_700_001)
    async with telegram_stack(testbot.app.bot, server):
        server.push(update)
        await server.wait_for("sendMessage")
    other_token = "654321:another-bot-token-not-a-secret"
    async with FakeTelegram(token=other_token) as other:
        adapter = TelegramAdapter(testbot.app.bot, token=other_token, api_url=other.root, poll_timeout=1)
        await adapter.start()
        try:
            other.push(update)  # the new bot's first update happens to carry the same id
            [sent] = await other.wait_for("sendMessage", timeout=15)
        finally:
            await adapter.stop()
    assert sent.params["text"] == server.calls_to("sendMessage")[0].params["text"]


@integration
async def test_an_unreachable_bot_api_is_tried_again_then_named_clearly(testbot):
    """Issue 14 row 8: start-up retries with a growing wait, then one clear error (no traceback chain)."""
    tries: list[str] = []

    async def bad_gateway(request: aiohttp.web.Request) -> aiohttp.web.Response:
        tries.append(request.match_info["method"])
        return aiohttp.web.Response(status=502, text="Bad Gateway")

    app = aiohttp.web.Application()
    app.router.add_route("*", "/bot{token}/{method}", bad_gateway)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        adapter = TelegramAdapter(
            testbot.app.bot,
            token=TOKEN,
            api_url=f"http://127.0.0.1:{port}",
            start_tries=3,
            retry_delay=0.01,
        )
        with pytest.raises(TelegramUnreachable) as caught:
            await adapter.start()
    finally:
        await runner.cleanup()
    assert tries == ["getMe", "getMe", "getMe"]
    message = str(caught.value)
    assert f"could not reach the Telegram Bot API at http://127.0.0.1:{port} after 3 tries" in message
    assert TOKEN not in message and caught.value.__cause__ is None
