"""Admin uploads as a careless admin sends them: again and again, oddly named, damaged, with links."""

from __future__ import annotations

import asyncio
import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from bot.chat.uploads import upload_course_id
from bot.messages import FileRef, IncomingMessage
from bot.testing import TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    return TestBot.build(tmp_path / "data", max_upload_mb=1, admins="telegram:boss")


def upload(testbot: TestBot, name: str, data: bytes) -> str:
    async def fetch() -> bytes:
        return data

    message = IncomingMessage("telegram", "boss", "c1", file=FileRef(name, len(data), fetch))
    return asyncio.run(testbot.app.bot.handle(message))[0].text


def _zip(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16  # how `zip --symlinks` stores a link
            archive.writestr(info, target)
    return buffer.getvalue()


def test_a_reupload_without_course_toml_updates_the_same_course(testbot):
    first = upload(testbot, "Birds.zip", _zip({"01-owls.md": "# Owls\n\nOwls hunt at night."}))
    assert "Loaded course birds:" in first
    second = upload(
        testbot,
        "Birds (1).zip",  # a browser's second download of the same file
        _zip({"01-owls.md": "# Owls\n\nOwls hunt at night.", "02-crows.md": "# Crows\n\nCrows use tools."}),
    )
    assert "Loaded course birds:" in second
    courses = testbot.app.store.courses()
    assert [c.course_id for c in courses] == ["birds"] and courses[0].lesson_count == 2


def test_a_zipped_course_toml_names_the_course_whatever_the_zip_is_called(testbot):
    course = {"c/course.toml": 'id = "owls"\ntitle = "Owls"\n', "c/intro.md": "# Intro\n\nOwls hunt."}
    upload(testbot, "export-2024-05-01.zip", _zip(course))
    upload(testbot, "owls-final.zip", _zip(course))
    assert [c.course_id for c in testbot.app.store.courses()] == ["owls"]


@pytest.mark.parametrize(
    ("name", "course_id"),
    [
        ("C:\\Users\\me\\Birds.zip", "birds"),
        ("../../birds copy.zip", "birds"),
        ("docs.zip", "docs"),
        ("鸟类 (2).zip", "鸟类"),
        ("[bold]x[/bold].zip", "bold"),  # a "/" in a name is a folder separator
        (".zip.zip", "zip"),
        ("   .zip", "course"),
        ("a" * 300 + ".md", "a" * 60),
    ],
)
def test_odd_file_names_give_a_short_stable_id(name, course_id):
    assert upload_course_id(name) == course_id


def test_a_generic_zip_name_is_still_the_id(testbot):
    reply = upload(testbot, "docs.zip", _zip({"docs/intro.md": "# Intro\n\nOwls hunt at night."}))
    assert "Loaded course docs:" in reply


def _lying_zip() -> bytes:
    """A zip whose entry says it unpacks to 10 bytes, but holds thousands (a zip bomb's trick)."""
    data = bytearray(_zip({"c/a.md": "# A\n\n" + "word " * 2000}))
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, 10)  # central directory
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, 10)  # local header
    return bytes(data)


def test_a_zip_that_lies_about_its_size_is_called_damaged(testbot):
    reply = upload(testbot, "bomb.zip", _lying_zip())
    assert "the zip file is damaged" in reply and "went wrong" not in reply
    assert testbot.app.store.courses() == []


def test_a_symlink_entry_is_left_out_and_reported(testbot):
    reply = upload(
        testbot,
        "links.zip",
        _zip({"c/intro.md": "# Intro\n\nOwls hunt at night."}, links={"c/passwd.md": "/etc/passwd"}),
    )
    assert "Loaded course links:" in reply and "c/passwd.md: a symbolic link" in reply
    texts = " ".join(c.text for c in testbot.app.live_records.keyword.chunks)
    assert "/etc/passwd" not in texts


def test_a_lesson_whose_only_file_is_skipped_is_not_loaded(testbot):
    course = {
        "c/course.toml": 'id = "birds"\ntitle = "Birds"\n'
        '[[lessons]]\nid = "owls"\nfile = "owls.md"\n'
        '[[lessons]]\nid = "crows"\nfile = "crows.md"\nprerequisites = ["owls"]\n',
        "c/owls.md": "\x00\x01binary",
        "c/crows.md": "# Crows\n\nCrows use tools.",
    }
    reply = upload(testbot, "birds.zip", _zip(course))
    assert "lesson owls: left out" in reply
    assert testbot.app.store.courses()[0].lesson_count == 1


def test_a_lone_surrogate_in_chat_is_cleaned_like_a_control_character(testbot):
    """A surrogate ("\\udcff", from a JSON escape) cannot be stored as UTF-8: it used to cost an apology."""
    testbot.ingest(SAMPLES / "security-basics")
    reply = testbot.say("What is phishing?\udcff")
    assert "went wrong" not in reply.text and reply.citations
    assert testbot.app.store.questions()[0]["question"] == "What is phishing?"
    assert "Please type a question" in testbot.say("\udcff\ud800").text


def test_a_mac_and_a_windows_upload_of_the_same_zip_update_one_course(testbot):
    mac_name = "Cafe\u0301 basics.zip"  # macOS spells "é" as "e" + a combining accent
    upload(testbot, mac_name, _zip({"01-owls.md": "# Owls\n\nOwls hunt at night."}))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # an old Windows zipper: backslashes in the names
        archive.writestr("Café basics\\01-owls.md", "# Owls\n\nOwls hunt at night.")
        archive.writestr("Café basics\\02-crows.md", "# Crows\n\nCrows use tools.")
    reply = upload(testbot, "Café basics.zip", buffer.getvalue())
    assert "Loaded course café-basics: 2 lessons" in reply
    assert [c.course_id for c in testbot.app.store.courses()] == ["café-basics"]
    assert {row.lesson_id for row in testbot.app.store.lessons("café-basics")} == {"01-owls", "02-crows"}


def test_an_upload_with_a_huge_document_skips_it_and_says_why(tmp_path):
    testbot = TestBot.build(tmp_path / "data", max_upload_mb=1, max_document_mb=1, admins="telegram:boss")
    reply = upload(
        testbot, "big.zip", _zip({"1-small.md": "# Small\n\nOwls.", "2-huge.txt": "word " * 300_000})
    )
    assert "2-huge.txt: holds 1.5 MB of text; the limit is 1 MB (LEARNBOT_MAX_DOCUMENT_MB)" in reply
    assert "Loaded course big: 1 lessons" in reply


def test_a_course_folder_inside_a_folder_is_found(testbot):
    course = {
        "birds-main/birds/course.toml": 'id = "birds"\ntitle = "Birds"\n',
        "birds-main/birds/owls.md": "# O",
    }
    assert "Loaded course birds: 1 lessons" in upload(testbot, "birds-main.zip", _zip(course))


def test_a_lone_surrogate_in_a_display_name_costs_no_reply(testbot):
    message = IncomingMessage("telegram", "u1", "c1", "/help", display_name="Bob\udcff")
    assert "went wrong" not in asyncio.run(testbot.app.bot.handle(message))[0].text


def test_a_zip_with_nothing_readable_is_named_in_the_reply(testbot):
    reply = upload(testbot, "pictures.zip", _zip({"x.png": "\x89PNG"}))
    assert "I could not load that file: pictures.zip: no readable document found" in reply
    assert "learnbot-upload" not in reply and "/course" not in reply
