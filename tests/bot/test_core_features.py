"""Core features the chat adapters rely on: exactly-once deliveries, buttons, rate limit, linking, uploads."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest

from bot.messages import FileRef, IncomingMessage
from bot.testing import TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    bot = TestBot.build(tmp_path / "data", questions_per_minute=3, max_upload_mb=1, admins="telegram:boss")
    bot.ingest(SAMPLES / "security-basics")
    return bot


def send(testbot: TestBot, **fields) -> list:
    fields.setdefault("platform", "telegram")
    fields.setdefault("user_id", "u1")
    fields.setdefault("chat_id", "c1")
    return asyncio.run(testbot.app.bot.handle(IncomingMessage(**fields)))


def test_a_repeated_delivery_is_answered_once(testbot):
    first = send(testbot, text="What is phishing?", delivery_id="update-7")
    again = send(testbot, text="What is phishing?", delivery_id="update-7")
    assert first and again == []
    assert len(testbot.app.store.questions()) == 1
    assert send(testbot, text="What is phishing?", delivery_id="update-7", platform="slack"), (
        "ids are per platform"
    )


def test_feedback_button_is_recorded_for_the_asker_only(testbot):
    reply = send(testbot, text="What is phishing?")[0]
    up = reply.buttons[0][0].data
    assert "Thanks" in send(testbot, callback_data=up)[0].text
    assert testbot.app.store.questions()[-1]["feedback"] == "up"
    assert (
        "expired" in send(testbot, callback_data=up.replace(":up", ":down"), user_id="someone-else")[0].text
    )
    assert "expired" in send(testbot, callback_data="nonsense")[0].text


def test_rate_limit_gives_a_clear_message(testbot):
    for _ in range(3):
        assert "faster than I can read" not in send(testbot, text="What is phishing?")[0].text
    assert "faster than I can read" in send(testbot, text="What is phishing?")[0].text
    assert "faster than I can read" not in send(testbot, text="What is phishing?", user_id="u2")[0].text


def test_link_code_joins_two_identities_once(testbot):
    send(testbot, text="What is phishing?", platform="slack", user_id="U9")
    code_reply = send(testbot, text="/link", platform="telegram", user_id="t9")[0].text
    code = next(
        word.strip(".") for word in code_reply.split() if word.strip(".").isdigit() and len(word) >= 8
    )
    assert "now one learner" in send(testbot, text=f"/link {code}", platform="slack", user_id="U9")[0].text
    store = testbot.app.store
    assert store.learner_for("slack", "U9") == store.learner_for("telegram", "t9")
    assert len(store.questions(store.learner_for("telegram", "t9"))) == 1, "the Slack question moved along"
    assert (
        "unknown, already used or expired"
        in send(testbot, text=f"/link {code}", platform="slack", user_id="U8")[0].text
    )


def _file(name: str, data: bytes, size: int | None = None) -> tuple[FileRef, list[int]]:
    calls: list[int] = []

    async def fetch() -> bytes:
        calls.append(1)
        return data

    return FileRef(name, len(data) if size is None else size, fetch), calls


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_only_admins_may_upload_and_nothing_is_downloaded_otherwise(testbot):
    file, calls = _file("lesson.md", b"# Lesson\n\nText about zebras.")
    assert "Only admins" in send(testbot, file=file, user_id="u1")[0].text
    assert calls == []


def test_oversized_upload_is_refused_before_download(testbot):
    file, calls = _file("big.pdf", b"x", size=5 * 1024 * 1024)
    assert "limit is 1 MiB" in send(testbot, file=file, user_id="boss")[0].text
    assert calls == []


def test_admin_uploads_a_zipped_course_and_hears_what_was_skipped(testbot):
    data = _zip(
        {
            "birds/course.toml": 'id = "birds"\ntitle = "Birds"\n',
            "birds/01-owls.md": "# Owls\n\nOwls hunt at night and swallow prey whole.",
            "birds/02-broken.md": "\x00\x01binary",
        }
    )
    file, calls = _file("birds.zip", data)
    reply = send(testbot, file=file, user_id="boss")[0].text
    assert calls == [1]
    assert "Loaded course birds" in reply and "02-broken.md" in reply
    assert any(c.course_id == "birds" for c in testbot.app.store.courses())


def test_zip_slip_is_refused(testbot):
    file, _ = _file("evil.zip", _zip({"../../escape.md": "# x\n\ntext"}))
    assert "unsafe path" in send(testbot, file=file, user_id="boss")[0].text


def test_unknown_file_type_is_refused(testbot):
    file, calls = _file("movie.mp4", b"...")
    assert "I can load" in send(testbot, file=file, user_id="boss")[0].text and calls == []
