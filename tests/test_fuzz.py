"""Fuzz tests (hypothesis): malformed documents, courses and chat text (adapters: test_fuzz_adapters.py).

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
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters import slack_render, telegram_render
from bot.messages import FileRef, IncomingMessage, Reply
from bot.testing import TestBot
from knowledge.chunking import Chunker
from knowledge.loaders import CourseError, load_course
from knowledge.readers import SUFFIXES, UnreadableDocument, read_document
from tests.knowledge.test_readers import make_pdf

SAMPLES = Path(__file__).resolve().parent.parent / "bot" / "sample_courses"
APOLOGY = "Sorry, something went wrong"
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),  # more for a longer hunt
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


# -- chat text (also used by tests/test_fuzz_adapters.py) ----------------------------------------

_commands = ["start", "help", "ask", "courses", "enroll", "lesson", "next", "done", "quiz", "progress"]
_commands += ["settings", "pause", "resume", "link", "mydata", "forget", "nosuch"]
_chat_text = st.one_of(
    st.text(max_size=300),
    st.tuples(
        st.sampled_from(_commands), st.sampled_from(["", "@learnbot_test_bot"]), st.text(max_size=40)
    ).map(lambda t: f"/{t[0]}{t[1]} {t[2]}"),
    st.sampled_from(["How long must a company password be?", "收到可疑邮件应该怎么办？", "1", "2", "  "]),
)

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
