"""Fuzz tests (hypothesis): malformed documents, courses, Telegram updates, Slack payloads and chat text.

Whatever comes in, nothing raises past the handler: a document is read or refused with
``UnreadableDocument``, a course loads or fails with ``CourseError``, and every chat input that
reaches the core gets a reply or a clean refusal (never the "something went wrong" apology, which
means an exception was caught). Example counts are kept small so all of this runs in well under a
minute; ``--hypothesis-show-statistics`` prints them.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from telegram import Update

from adapters import slack_render, telegram_render
from adapters.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from adapters.fake_telegram import TOKEN, FakeTelegram
from adapters.slack import SlackAdapter, command_text, plain_text
from adapters.telegram import _CONVERSATION, TelegramAdapter
from bot.messages import FileRef, IncomingMessage, Reply
from bot.testing import TestBot
from knowledge.chunking import Chunker
from knowledge.loaders import CourseError, load_course
from knowledge.readers import SUFFIXES, UnreadableDocument, read_document
from tests.knowledge.test_readers import make_pdf

SAMPLES = Path(__file__).resolve().parent.parent / "bot" / "sample_courses"
APOLOGY = "Sorry, something went wrong"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_ids = itertools.count(10_000_000)


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = TestBot.build(tmp_path_factory.mktemp("fuzz") / "data")
    bot.ingest(SAMPLES / "security-basics")
    return bot


class RecordingBot:
    """The real core between an adapter and the test: what reached it and what it answered."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.received: list[IncomingMessage] = []
        self.replies: list[list[Reply]] = []

    @property
    def commands(self) -> dict:
        return self.bot.commands

    async def handle(self, message: IncomingMessage, notify: Any = None) -> list[Reply]:
        self.received.append(message)
        replies = await self.bot.handle(message, notify)
        self.replies.append(replies)
        return replies


def clean_answer(replies: list[Reply]) -> None:
    """Every input gets at least one reply, none of them the apology for an internal error."""
    assert replies, "no reply at all"
    for reply in replies:
        assert isinstance(reply.text, str) and (reply.text.strip() or reply.document or reply.image)
        assert APOLOGY not in reply.text
        telegram_render.render(reply)
        slack_render.render(reply)


# -- documents -------------------------------------------------------------------------------------


def _docx(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    document.add_heading("Title", level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


VALID = {
    ".pdf": make_pdf(["Firewalls filter traffic", "Second line"]),
    ".docx": _docx(["Passwords should be long.", "Phishing mails create urgency."]),
    ".html": b"<html><head><title>T</title></head><body><h2>A</h2><p>x</p><table><tr><td>1</td></tr></table>"
    b"<pre>code</pre><ul><li>i</li></ul></body></html>",
    ".md": b"---\ntitle: Lesson\n---\n# Heading\n\nSome *text*.\n\n```\n# not a heading\n```\n",
    ".txt": "Plain text, \u4e2d\u6587 too.\n".encode(),
}


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file name suffix and bytes: random, or a valid document cut, flipped or spliced."""
    suffix = draw(st.sampled_from(sorted(SUFFIXES)))
    base = VALID.get(suffix, VALID[".md"] if suffix == ".markdown" else VALID[".html"])
    kind = draw(st.sampled_from(["random", "cut", "flip", "splice", "text"]))
    if kind == "random":
        return suffix, draw(st.binary(max_size=2000))
    if kind == "text":
        return suffix, draw(st.text(max_size=2000)).encode("utf-8", "surrogatepass")
    data = bytearray(base)
    if kind == "cut":
        return suffix, bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 20))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return suffix, bytes(data)
    at = draw(st.integers(0, len(data)))
    return suffix, bytes(data[:at]) + draw(st.binary(max_size=200)) + bytes(data[at:])


@FUZZ
@given(documents())
def test_every_reader_reads_or_refuses_any_bytes(document: tuple[str, bytes]) -> None:
    suffix, data = document
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"doc{suffix}"
        path.write_bytes(data)
        try:
            text = read_document(path)
        except UnreadableDocument as exc:
            assert str(exc)
            event(f"{suffix}: refused")
            return
    event(f"{suffix}: read")
    assert isinstance(text, str) and text.strip()


_scalars = st.one_of(
    st.text(max_size=30),
    st.integers(-5, 10**6),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string


@st.composite
def courses(draw: st.DrawFn) -> dict[str, Any]:
    """A course folder: an optional, often broken course.toml and lessons with random front matter."""
    keys = ["id", "title", "language", "track", "premium", "description", "desired_retention"]
    spec = {k: draw(_values) for k in draw(st.lists(st.sampled_from(keys), unique=True, max_size=7))}
    lessons = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": _scalars,
                    "file": st.sampled_from(["a.md", "b.md", "../x.md", "c.txt"]) | st.text(max_size=8),
                },
                optional={"prerequisites": _values, "title": _scalars},
            ),
            max_size=3,
        )
    )
    meta = draw(
        st.dictionaries(
            st.sampled_from(["title", "objectives", "minutes", "quiz"]),
            st.one_of(
                _values,
                st.lists(
                    st.dictionaries(
                        st.sampled_from(["question", "options", "answer", "explanation"]), _values
                    ),
                    max_size=2,
                ),
            ),
        )
    )
    body = draw(st.text(max_size=600))
    raw_front = draw(st.sampled_from(["json", "text", "none"]))
    front = {"json": json.dumps(meta), "text": draw(st.text(max_size=80)), "none": None}[raw_front]
    return {
        "toml": draw(st.booleans()),
        "spec": spec,
        "lessons": lessons,
        "a.md": (f"---\n{front}\n---\n" if front is not None else "") + body,
        "b.md": draw(st.text(max_size=300)),
    }


def _course_toml(course: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml(v)}" for k, v in course["spec"].items()]
    for lesson in course["lessons"]:
        lines.append("\n[[lessons]]")
        lines += [f"{k} = {_toml(v)}" for k, v in lesson.items()]
    return "\n".join(lines) + "\n"


@FUZZ
@given(courses())
def test_random_courses_load_or_fail_cleanly_and_chunk(course: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        root.mkdir()
        (root / "a.md").write_text(course["a.md"], encoding="utf-8", errors="surrogatepass")
        (root / "b.md").write_text(course["b.md"], encoding="utf-8", errors="surrogatepass")
        if course["toml"]:
            (root / "course.toml").write_text(_course_toml(course), encoding="utf-8", errors="surrogatepass")
        try:
            loaded = load_course(root)
        except CourseError as exc:
            assert str(exc)
            event("refused with CourseError")
            return
        event(f"loaded, {len(loaded.problems)} problems reported" if loaded.problems else "loaded cleanly")
        chunker = Chunker(300, 50)
        for lesson in loaded.lessons:
            for chunk in chunker.chunk_lesson(loaded, lesson):
                assert chunk.text.strip()


# -- Telegram updates ------------------------------------------------------------------------------

_commands = ["start", "help", "ask", "courses", "enroll", "lesson", "next", "done", "quiz", "progress"]
_commands += ["settings", "pause", "resume", "link", "mydata", "forget", "nosuch"]
_chat_text = st.one_of(
    st.text(max_size=300),
    st.tuples(
        st.sampled_from(_commands), st.sampled_from(["", "@learnbot_test_bot"]), st.text(max_size=40)
    ).map(lambda t: f"/{t[0]}{t[1]} {t[2]}"),
    st.sampled_from(["How long must a company password be?", "收到可疑邮件应该怎么办？", "1", "2", "  "]),
)
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


# -- the router ------------------------------------------------------------------------------------


@FUZZ
@given(
    text=st.one_of(
        _chat_text,
        st.text(min_size=3990, max_size=4100),
        st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
    ),
    user=st.sampled_from(["fz-1", "fz-2", "fz-3"]) | st.text(min_size=1, max_size=6),
    platform=st.sampled_from(["console", "telegram", "slack", "fuzz"]),
    button=st.one_of(
        st.none(), st.text(max_size=40), st.sampled_from(["quiz:next", "feedback:1:up", "forget:no"])
    ),
    direct=st.booleans(),
    upload=st.one_of(st.none(), st.tuples(st.text(max_size=15), st.integers(0, 10**9))),
)
def test_random_text_through_the_router_gets_a_reply_or_a_clean_refusal(
    testbot, text: str, user: str, platform: str, button: str | None, direct: bool, upload: tuple | None
) -> None:
    async def fetch() -> bytes:
        raise AssertionError("a non-admin's file is never downloaded")

    file = FileRef(upload[0], upload[1], fetch) if upload else None
    message = IncomingMessage(
        platform, user, f"chat-{user}", text, callback_data=button, direct=direct, file=file
    )
    clean_answer(asyncio.run(testbot.app.bot.handle(message)))


def test_zip_bombs_and_traversal_in_uploads_are_refused_cleanly(testbot, tmp_path) -> None:
    """A hand-made malformed upload for the path the generators above cannot reach (an admin's zip)."""
    testbot.app.store.add_admin("fuzz", "admin")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escape.md", "# Out\n\ntext")
    data = buffer.getvalue()

    async def fetch() -> bytes:
        return data

    message = IncomingMessage("fuzz", "admin", "chat-admin", file=FileRef("course.zip", len(data), fetch))
    clean_answer(asyncio.run(testbot.app.bot.handle(message)))
