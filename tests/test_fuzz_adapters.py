"""Fuzz tests (hypothesis) of the chat adapters: random Telegram updates and Slack payloads.

Each is translated by the adapter's own handler into an ``IncomingMessage`` for the real core, whose
replies go to the local fake Bot API / Web API: every message from a person gets a reply that is not
the "something went wrong" apology, and nothing raises out of the adapter. See tests/test_fuzz.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from telegram import Update

from adapters.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from adapters.fakes.telegram import TOKEN, FakeTelegram
from adapters.slack import SlackAdapter, command_text, plain_text
from adapters.telegram import _CONVERSATION, TelegramAdapter
from bot.testing import TestBot
from tests.test_fuzz import FUZZ, SAMPLES, RecordingBot, _chat_text, clean_answer

_ids = itertools.count(20_000_000)


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = TestBot.build(tmp_path_factory.mktemp("fuzz-adapters") / "data")
    bot.ingest(SAMPLES / "security-basics")
    return bot


# -- Telegram updates ------------------------------------------------------------------------------

_tg_user = st.fixed_dictionaries(
    {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": st.text(max_size=20)},
    optional={
        "last_name": st.text(max_size=10),
        "language_code": st.sampled_from(["en", "zh-hans", "", "x"]),
    },
)
_tg_chat = st.fixed_dictionaries(
    {
        "id": st.integers(-(10**13), 10**13),
        "type": st.sampled_from(["private", "group", "supergroup", "channel"]),
    },
    optional={"is_forum": st.booleans(), "title": st.text(max_size=10)},
)
_tg_document = st.fixed_dictionaries(
    {"file_id": st.text(min_size=1, max_size=10), "file_unique_id": st.text(min_size=1, max_size=10)},
    optional={
        "file_name": st.text(max_size=20),
        "file_size": st.integers(0, 10**10),
        "mime_type": st.sampled_from(["application/pdf", "text/plain", "application/zip"]),
    },
)
_tg_message = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "date": st.integers(0, 2**31), "chat": _tg_chat},
    optional={
        "from": _tg_user,
        "text": _chat_text,
        "caption": st.text(max_size=50),
        "entities": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["bot_command", "mention", "url", "bold"]),
                    "offset": st.integers(0, 400),
                    "length": st.integers(0, 400),
                }
            ),
            max_size=3,
        ),
        "message_thread_id": st.integers(1, 10**6),
        "is_topic_message": st.booleans(),
        "document": _tg_document,
        "new_chat_members": st.lists(_tg_user, max_size=1),
    },
)
_tg_callback = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10), "from": _tg_user, "chat_instance": st.text(max_size=10)},
    optional={
        "data": st.one_of(
            st.text(max_size=64),
            st.tuples(
                st.sampled_from(["feedback", "quiz", "forget", "lesson", "done", "x"]), st.text(max_size=30)
            ).map(":".join),
        ),
        "message": _tg_message,
    },
)
_tg_update = st.one_of(
    st.fixed_dictionaries({"message": _tg_message}),
    st.fixed_dictionaries(
        {"message": _tg_message.flatmap(lambda m: _tg_user.map(lambda u: {**m, "from": u}))}
    ),
    st.fixed_dictionaries({"callback_query": _tg_callback}),
    st.fixed_dictionaries({"edited_message": _tg_message}),
    st.fixed_dictionaries({"channel_post": _tg_message}),
    st.fixed_dictionaries({"callback_query": _tg_callback}),
)


@pytest.fixture(scope="module")
def telegram(
    testbot,
) -> Iterator[tuple[asyncio.AbstractEventLoop, TelegramAdapter, RecordingBot, FakeTelegram]]:
    loop = asyncio.new_event_loop()
    server = FakeTelegram()
    loop.run_until_complete(server.__aenter__())
    core = RecordingBot(testbot.app.bot)
    adapter = TelegramAdapter(core, token=TOKEN, api_url=server.root, rate_limit=False)  # type: ignore[arg-type]
    loop.run_until_complete(adapter.application.initialize())
    yield loop, adapter, core, server
    loop.run_until_complete(adapter.application.shutdown())
    loop.run_until_complete(server.__aexit__(None, None, None))
    loop.close()


@FUZZ
@given(_tg_update)
def test_random_telegram_updates_translate_and_get_a_clean_answer(telegram, data: dict[str, Any]) -> None:
    loop, adapter, core, server = telegram
    data = {**data, "update_id": next(_ids)}  # every update new: a repeated one is rightly ignored
    update = Update.de_json(data, adapter.application.bot)
    before, sends = len(core.received), len(server.calls)
    if update.callback_query is not None:
        loop.run_until_complete(adapter._on_button(update, None))
    elif _CONVERSATION.check_update(update):
        loop.run_until_complete(adapter._on_message(update, None))
    else:
        event("not a conversation update (PTB never hands it over)")
        return
    if len(core.received) == before:
        assert update.effective_user is None, "a message from a person must reach the core"
        event("no user: ignored")
        return
    event("answered")
    clean_answer(core.replies[-1])
    methods = {c.method for c in server.calls[sends:]}
    assert methods & {"sendMessage", "sendDocument", "sendPhoto"}, f"nothing sent: {methods}"


# -- Slack payloads --------------------------------------------------------------------------------

_slack_user = st.sampled_from(["U0FUZZ1", "U0FUZZ2", "W0FUZZ3", ""]) | st.text(max_size=8)
_slack_channel = st.sampled_from(["D0FUZZ", "C0FUZZ", "G0FUZZ", ""]) | st.text(max_size=8)
_maybe_text = st.one_of(
    st.none(), _chat_text, st.text(max_size=20).map(lambda t: f"<@U0BOT> {t} <http://x|y> &amp;")
)
_slack_file = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8), "url_private_download": st.just("http://127.0.0.1:9/nowhere")},
    optional={"name": st.text(max_size=12), "size": st.integers(0, 10**9)},
)
_slack_event = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "app_mention", "file_shared"])},
    optional={
        "channel": _slack_channel,
        "channel_type": st.sampled_from(["im", "channel", "group"]),
        "channel_id": _slack_channel,
        "user": _slack_user,
        "user_id": _slack_user,
        "text": _maybe_text,
        "ts": st.text(max_size=12),
        "thread_ts": st.one_of(st.none(), st.text(max_size=12)),
        "subtype": st.sampled_from(["file_share", "bot_message", "message_changed", "thread_broadcast"]),
        "bot_id": st.text(max_size=5),
        "files": st.lists(_slack_file, max_size=2),
        "file_id": st.text(min_size=1, max_size=8),
    },
)
_slack_command = st.fixed_dictionaries(
    {"command": st.just("/learn")},
    optional={
        "user_id": _slack_user,
        "channel_id": _slack_channel,
        "text": _maybe_text,
        "user_name": st.text(max_size=10),
        "trigger_id": st.text(max_size=10),
    },
)
_slack_actions = st.lists(
    st.fixed_dictionaries(
        {"action_id": st.text(max_size=10)},
        optional={
            "value": st.one_of(
                st.none(),
                st.text(max_size=40),
                st.sampled_from(["feedback:1:up", "quiz:next", "forget:no", "forget:yes:00"]),
            ),
            "action_ts": st.text(max_size=8),
        },
    ),
    min_size=1,
    max_size=1,
)
_slack_action = st.fixed_dictionaries(
    {"type": st.just("block_actions"), "actions": _slack_actions},
    optional={
        "user": st.fixed_dictionaries({}, optional={"id": _slack_user}),
        "channel": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"id": _slack_channel})),
        "container": st.fixed_dictionaries({}, optional={"channel_id": _slack_channel}),
        "message": st.fixed_dictionaries(
            {}, optional={"ts": st.text(max_size=8), "thread_ts": st.text(max_size=8)}
        ),
        "trigger_id": st.text(max_size=10),
    },
)


@pytest.fixture(scope="module")
def slack(testbot) -> Iterator[tuple[asyncio.AbstractEventLoop, SlackAdapter, RecordingBot, FakeSlack]]:
    loop = asyncio.new_event_loop()
    server = FakeSlack()
    loop.run_until_complete(server.__aenter__())
    core = RecordingBot(testbot.app.bot)
    adapter = SlackAdapter(core, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=server.api_url)  # type: ignore[arg-type]
    yield loop, adapter, core, server
    loop.run_until_complete(server.__aexit__(None, None, None))
    loop.close()


async def _ack(*args: Any, **kwargs: Any) -> None:
    return None


@st.composite
def _mostly_valid(draw: st.DrawFn, base: st.SearchStrategy, valid: dict[str, Any]) -> dict[str, Any]:
    """A payload whose fields are usually those Slack sends, with some dropped, nulled or random."""
    data = {**draw(base), **valid}
    for key in draw(st.lists(st.sampled_from(sorted(set(valid) - {"type"})), max_size=2, unique=True)):
        mode = draw(st.sampled_from(["drop", "null", "keep-random"]))
        if mode == "drop":
            data.pop(key, None)
        elif mode == "null":
            data[key] = None
        else:
            data[key] = draw(base).get(key, data[key])
    return data


_dm = {"type": "message", "channel": "D0FUZZ", "channel_type": "im", "user": "U0FUZZ1", "ts": "1.1"}
_mention = {"type": "app_mention", "channel": "C0FUZZ", "user": "U0FUZZ2", "ts": "2.2"}
_command = {"user_id": "U0FUZZ1", "channel_id": "D0FUZZ", "user_name": "fuzz"}
_action = {"user": {"id": "U0FUZZ2"}, "channel": {"id": "C0FUZZ"}, "message": {"ts": "3.3"}}
_slack_payloads = st.one_of(
    _slack_event.map(lambda e: ("event", e)),
    _mostly_valid(_slack_event, _dm).map(lambda e: ("event", e)),
    _mostly_valid(_slack_event, _mention).map(lambda e: ("event", e)),
    _slack_command.map(lambda c: ("command", c)),
    _mostly_valid(_slack_command, _command).map(lambda c: ("command", c)),
    _slack_action.map(lambda a: ("action", a)),
    _mostly_valid(_slack_action, _action).map(lambda a: ("action", a)),
)


@FUZZ
@given(_slack_payloads)
def test_random_slack_payloads_translate_and_get_a_clean_answer(slack, payload: tuple[str, dict]) -> None:
    loop, adapter, core, server = slack
    kind, data = payload
    before, calls = len(core.received), len(server.calls)

    async def run() -> None:
        if kind == "event":
            body = {"event_id": f"Ev{next(_ids)}", "event": data}
            listener = {"message": adapter._on_message, "app_mention": adapter._on_mention}
            await listener.get(data["type"], adapter._on_file_shared)(body, data)
        elif kind == "command":
            await adapter._on_command(_ack, {**data, "trigger_id": f"t{next(_ids)}"})
        else:
            body = {**data, "trigger_id": f"t{next(_ids)}"}
            await adapter._on_action(_ack, body, data["actions"][0])
        while adapter._tasks:
            await asyncio.gather(*list(adapter._tasks))

    loop.run_until_complete(run())
    if len(core.received) == before:
        event(f"{kind}: ignored (a bot, another subtype, no user or channel)")
        return
    event(f"{kind}: answered")
    clean_answer(core.replies[-1])
    methods = {c.method for c in server.calls[calls:]}
    assert methods & {"chat.postMessage", "chat.update", "chat.postEphemeral"}, f"nothing posted: {methods}"


@FUZZ
@given(st.text(max_size=300))
def test_slack_text_helpers_take_any_text(text: str) -> None:
    assert isinstance(plain_text(text), str)
    assert isinstance(command_text(text, {"ask": None}), str)
