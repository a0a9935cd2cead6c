"""Lessons read in chat, section by section: pages from the stored chunks, limits, Done, premium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import slack_render, telegram_render
from bot.lesson_sections import PAGE_CHARS, lesson_pages
from bot.messages import Reply
from bot.testing import TestBot
from knowledge.models import Chunk
from tests.premium_course import PREMIUM_ID, TRACK, leaks, write_courses

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CODE = "\n".join(f"    value_{n:02d} = compute({n})  # step {n} of the setup, kept as is" for n in range(36))
THEORY = [
    f"Paragraph {n} of the theory explains idea {n} in full sentences. " + "It adds detail. " * 25
    for n in range(8)
]


def write_lesson_course(root: Path, url: str = "") -> Path:
    """A one-lesson course: an introduction, a long code block and a section longer than a page."""
    course = root / "long"
    course.mkdir(parents=True)
    toml = 'id = "long"\ntitle = "Long Course"\n' + (f'url = "{url}"\n' if url else "")
    (course / "course.toml").write_text(toml)
    theory = "\n\n".join(THEORY)
    (course / "01-setup.md").write_text(
        f"# Setting up\n\nThis lesson sets things up.\n\n## Setup\n\nRun this:\n\n```python\n{CODE}\n```\n\n"
        "![Wiring diagram](images/wiring.png)\n\n"
        '<img src="https://cdn.example.com/board.jpg" alt="The board">\n\n'
        f"## Theory\n\n{theory}\n\n### A detail\n\nThe detail closes the lesson.\n"
    )
    return course


@pytest.fixture
def reader(tmp_path) -> TestBot:
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(write_lesson_course(tmp_path / "courses"))
    testbot.say("/enroll long")
    return testbot


def read_all(testbot: TestBot) -> list:
    """/lesson, then Next section until the page with Done."""
    pages = [testbot.say("/lesson")]
    while pages[-1].buttons[0][0].label == "Next section":
        pages.append(testbot.press(pages[-1].buttons[0][0].data))
        assert len(pages) < 20
    return pages


def test_a_lesson_is_read_section_by_section_with_code_kept_whole(reader):
    pages = read_all(reader)
    headers = [p.text.splitlines()[0] for p in pages]
    assert headers[0] == "Lesson 1 of 1 in Long Course:" and "Section 1 of 3: Introduction" in pages[0].text
    assert "This lesson sets things up.\n\n## Setup\n\nRun this:" in pages[0].text, "a short section shares"
    assert headers[1:] == [
        "Setting up (2 of 3): Theory (part 1 of 2)",
        "Setting up (3 of 3): Theory (part 2 of 2)",
    ]
    assert f"```python\n{CODE}\n```" in pages[0].text, "the code block whole, once, fenced, indented"
    assert "Image: Wiring diagram\nImage: The board (https://cdn.example.com/board.jpg)" in pages[0].text, (
        "without a public url, a relative image is a caption; an absolute one keeps its address"
    )
    text = "\n".join(p.text for p in pages)
    assert all(paragraph.strip() in text for paragraph in THEORY), "no text lost between pages"
    assert text.count("Paragraph 3 of the theory") == 1, "nothing repeated"
    assert "### A detail\n\nThe detail closes the lesson." in pages[-1].text
    assert [c.heading for c in pages[1].citations] == ["Setting up > Theory"]
    assert [[b.label for b in row] for row in pages[-1].buttons] == [["Done"]]
    assert all(b.label != "Done" for p in pages[:-1] for row in p.buttons for b in row), "Done comes last"


def test_each_page_fits_one_slack_section_and_one_telegram_message(reader):
    pages = read_all(reader)
    for page in pages:
        body = page.text.split("\n\n", 2)[-1]
        assert len(body) <= PAGE_CHARS + 200
        [(html, markup)] = telegram_render.render(page)
        assert telegram_render.utf16_len(html) <= telegram_render.MESSAGE_LIMIT and markup is not None
        assert html.count("<pre>") == html.count("</pre>") and html.count("<b>") == html.count("</b>")
        blocks = slack_render.render(page)["blocks"]
        sections = [b for b in blocks if b["type"] == "section"]
        assert len(sections) == 1 and len(sections[0]["text"]["text"]) <= slack_render.SECTION_LIMIT
    code_page = pages[0]
    [(html, _)] = telegram_render.render(code_page)
    assert "<pre>    value_00 = compute(0)" in html and "step 35 of the setup, kept as is</pre>" in html
    assert "<b>" not in html.split("<pre>")[1].split("</pre>")[0], "code is never marked up"
    mrkdwn = slack_render.render(code_page)["blocks"][0]["text"]["text"]
    assert "```python\n    value_00 = compute(0)" in mrkdwn


def test_lesson_resumes_at_the_page_reached_and_done_is_still_accepted_on_request(reader):
    first = reader.say("/lesson")
    second = reader.press(first.buttons[0][0].data)
    assert reader.say("/lesson").text == second.text, "/lesson shows the page you reached"
    done = reader.say("/done")
    assert done.text.startswith("Done: Setting up"), "an explicit /done is still taken early"
    assert "finished every lesson" in reader.say("/lesson").text


def test_a_forged_or_expired_next_section_button_shows_no_premium_text(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    for folder in write_courses(tmp_path / "courses"):
        testbot.ingest(folder)
    forged = [f"read:{n}:{PREMIUM_ID}:{lesson}" for n in (0, 1) for lesson in ("calibration", "combination")]
    for data in forged:
        reply = testbot.press(data)
        assert not leaks(reply.text) and not reply.citations and "expired" in reply.text
    me = testbot.app.store.learner_for("test", testbot.user)
    testbot.app.store.grant(me, TRACK, NOW + timedelta(days=2), NOW)
    testbot.say(f"/enroll {PREMIUM_ID}")
    opened = testbot.say(f"/lesson {PREMIUM_ID}")
    assert leaks(opened.text), "the entitled learner reads the premium lesson itself"
    testbot.at(NOW + timedelta(days=3))  # the grant has run out
    for data in forged:
        reply = testbot.press(data)
        assert not leaks(reply.text) and not reply.citations


def test_a_course_with_a_public_url_links_to_it(tmp_path):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(write_lesson_course(tmp_path / "courses", url="https://learn.example.com/long"))
    testbot.say("/enroll long")
    first = testbot.say("/lesson")
    assert "Also online: https://learn.example.com/long" in first.text
    assert "Image: Wiring diagram (https://learn.example.com/long/images/wiring.png)" in first.text
    assert "Image: The board (https://cdn.example.com/board.jpg)" in first.text
    urls = [b.url for row in first.buttons for b in row if b.url]
    assert urls == ["https://learn.example.com/long"]
    [(html, markup)] = telegram_render.render(first)
    assert markup.inline_keyboard[1][0].url == "https://learn.example.com/long"
    theory = testbot.press(first.buttons[0][0].data).text
    assert not re.search(r"https://\S+", theory), "the link on the first page, images where they are"


def test_a_code_block_longer_than_a_page_is_cut_between_lines_each_part_fenced():
    code = "\n".join(f"print({n})  # line {n}" for n in range(400))
    text = f"```python\n{code}\n```"
    chunk = Chunk("c1", text, "course", "lesson", "Lesson", "Lesson > Code", "lesson.md", "en")
    pages = lesson_pages([chunk], "Lesson", limit=1000)
    assert len(pages) > 5 and all(len(p.text) <= 1000 for p in pages)
    assert all(p.text.startswith("```python\n") and p.text.endswith("\n```") for p in pages)
    lines = [line for p in pages for line in p.text.split("\n") if not line.startswith("```")]
    assert lines == code.split("\n"), "every line once, in order"
    chinese = Chunk("c2", "密码管理器" * 900, "course", "lesson", "Lesson", "Lesson", "lesson.md", "zh")
    assert [len(p.text) for p in lesson_pages([chinese], "Lesson", limit=2000)] == [2000, 2000, 500]


def test_telegram_marks_up_headings_bold_and_inline_code_but_never_inside_code():
    reply = Reply("## Sub `x`\n\nUse **MFA** and `ssh -i **key**`.\n\n```\n**not bold** <tag>\n```")
    [(html, _)] = telegram_render.render(reply)
    assert html.split("\n\n") == [
        "<b>Sub x</b>",
        "Use <b>MFA</b> and <code>ssh -i **key**</code>.",
        "<pre>**not bold** &lt;tag&gt;</pre>",
    ]
    assert telegram_render.plain_text(html).split("\n\n")[2] == "**not bold** <tag>"


@pytest.mark.parametrize("course", ["security-basics", "security-basics-zh"])
def test_every_page_of_the_sample_courses_is_one_message_on_each_platform(tmp_path, course):
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(Path(__file__).resolve().parents[2] / "bot" / "sample_courses" / course)
    testbot.say(f"/enroll {course}")
    lessons = 0
    while "finished every lesson" not in (first := testbot.say("/lesson")).text:
        pages = [first]
        while pages[-1].buttons[0][0].label == "Next section":
            pages.append(testbot.press(pages[-1].buttons[0][0].data))
        for page in pages:
            assert len(telegram_render.render(page)) == 1
            sections = [b for b in slack_render.render(page)["blocks"] if b["type"] == "section"]
            assert len(sections) == 1, page.text[:80]
        testbot.press(pages[-1].buttons[0][0].data)  # Done
        lessons += 1
    assert lessons == len(testbot.app.store.lessons(course))
