"""load_course: declared courses, inferred structure (flat folders, course repositories), bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import docx
import pytest

from knowledge.loaders import (
    CourseError,
    CourseOverrides,
    detect_language,
    load_course,
    natural_key,
    split_front_matter,
)
from knowledge.models import Course, Lesson
from knowledge.readers import UnreadableDocument

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "bot" / "sample_courses"
CORPORA = ROOT.parent / "shared" / "corpora"
IOT = CORPORA / "iot-for-beginners"
ML = CORPORA / "ml-for-beginners"

needs_corpora = pytest.mark.skipif(
    not (IOT / "lessons" / "en").is_dir() or not (ML / "lessons" / "en").is_dir(),
    reason=f"the shared corpora are not at {CORPORA} (a checkout outside the workspace)",
)


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF showing ``lines`` (ASCII), written by hand: no PDF library needed."""
    content = ("BT /F1 12 Tf 72 720 Td " + " ".join(f"({t}) Tj 0 -16 Td" for t in lines) + " ET").encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def lesson(course: Course, lesson_id: str) -> Lesson:
    return next(item for item in course.lessons if item.lesson_id == lesson_id)


def problems(course: Course) -> dict[str, str]:
    return {p.path: p.reason for p in course.problems}


COURSE_TOML = """
id = "net"
title = "Networking"
language = "en"
track = "it"
premium = true
description = "Basics."
desired_retention = 0.85

[[lessons]]
id = "intro"
file = "01-intro.md"

[[lessons]]
id = "routing"
file = "02-routing.md"
prerequisites = ["intro"]
"""

INTRO = """---
title: What a network is
objectives:
  - Name the parts of a network
minutes: 7
quiz:
  - question: What connects devices?
    options: ["A network", "A kettle"]
    answer: 0
    explanation: That is what a network is.
---
# What a network is

A network connects devices so that they can exchange data.
"""

ROUTING = "# Routing\n\nRouters forward packets between networks.\n"


def declared(tmp_path: Path, toml: str = COURSE_TOML, **files: str | bytes) -> Path:
    base = {"course.toml": toml, "01-intro.md": INTRO, "02-routing.md": ROUTING}
    return write(tmp_path / "net", {**base, **files})


# -- the sample courses ------------------------------------------------------------------------


def test_sample_course_loads_with_its_settings_lessons_and_quizzes() -> None:
    course = load_course(SAMPLES / "security-basics")
    assert course.problems == []
    assert (course.course_id, course.title, course.language, course.track, course.premium) == (
        "security-basics",
        "Security Basics for Employees",
        "en",
        "onboarding",
        False,
    )
    assert course.desired_retention == 0.9
    assert [item.lesson_id for item in course.lessons] == [
        "phishing",
        "passwords",
        "mfa",
        "data-handling",
        "remote-work",
        "incident-reporting",
    ]
    assert [item.order for item in course.lessons] == list(range(6))
    phishing = lesson(course, "phishing")
    assert phishing.title == "Recognising phishing"
    assert phishing.minutes == 10
    assert len(phishing.objectives) == 3
    assert [q.answer for q in phishing.quiz] == [0, 1, 2]
    assert all(q.lesson_id == "phishing" and len(q.options) == 3 for q in phishing.quiz)
    assert phishing.sources[0].path == "01-phishing.md"
    assert not phishing.sources[0].text.startswith("---"), "front matter is not lesson text"
    assert lesson(course, "remote-work").prerequisites == ["mfa", "data-handling"]
    assert all(item.quiz and item.title and item.minutes for item in course.lessons)


def test_chinese_sample_course_is_chinese() -> None:
    course = load_course(SAMPLES / "security-basics-zh")
    assert course.problems == []
    assert course.language == "zh"
    assert [item.title for item in course.lessons][0] == "识别钓鱼邮件"
    assert lesson(course, "passwords").prerequisites == ["phishing"]
    assert all(item.quiz for item in course.lessons)


def test_declared_course_reads_every_field(tmp_path: Path) -> None:
    course = load_course(declared(tmp_path))
    assert (course.course_id, course.title, course.track, course.premium, course.desired_retention) == (
        "net",
        "Networking",
        "it",
        True,
        0.85,
    )
    intro, routing = course.lessons
    assert (intro.title, intro.minutes) == ("What a network is", 7)
    assert intro.objectives == ["Name the parts of a network"]
    assert intro.quiz[0].explanation == "That is what a network is."
    assert routing.title == "Routing", "a lesson without a front matter title takes its first heading"
    assert routing.prerequisites == ["intro"]


def test_path_to_course_toml_loads_its_folder(tmp_path: Path) -> None:
    assert load_course(declared(tmp_path) / "course.toml").course_id == "net"


def test_quiz_toml_adds_items_to_lessons(tmp_path: Path) -> None:
    quiz = """
[[quiz]]
lesson = "routing"
question = "What forwards packets?"
options = ["A router", "A monitor", "A mouse"]
answer = 0

[[quiz]]
lesson = "nowhere"
question = "Orphan?"
options = ["yes", "no"]
answer = 1

[[quiz]]
lesson = "routing"
question = "Out of range?"
options = ["a", "b"]
answer = 2
"""
    course = load_course(declared(tmp_path, **{"quiz.toml": quiz}))
    assert [q.question for q in lesson(course, "routing").quiz] == ["What forwards packets?"]
    reasons = [p.reason for p in course.problems if p.path == "quiz.toml"]
    assert reasons == ["item 2 names no known lesson", "item 3: answer must be an option index from 0 to 1"]


def test_invalid_quiz_toml_is_a_problem_not_a_failure(tmp_path: Path) -> None:
    course = load_course(declared(tmp_path, **{"quiz.toml": "[[quiz]\nbroken"}))
    assert problems(course)["quiz.toml"].startswith("not valid TOML")
    assert len(course.lessons) == 2


def test_lessons_default_to_the_folder_files_when_course_toml_lists_none(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "c",
        {
            "course.toml": 'id = "c"\ntitle = "C"\n',
            "10-last.md": "# Last\n\ntext\n",
            "2-second.md": "# Second\n\ntext\n",
            "1-first.txt": "First\n",
        },
    )
    course = load_course(folder)
    assert [item.lesson_id for item in course.lessons] == ["1-first", "2-second", "10-last"]


# -- overrides and language --------------------------------------------------------------------


def test_command_line_overrides_win(tmp_path: Path) -> None:
    overrides = CourseOverrides(course_id="other", track="sales", premium=False, language="zh")
    course = load_course(declared(tmp_path), overrides)
    settings = (course.course_id, course.track, course.premium, course.language)
    assert settings == ("other", "sales", False, "zh")


def test_language_override_wins_over_detection(tmp_path: Path) -> None:
    folder = write(tmp_path / "zh", {"a.md": "# 标题\n\n这是一节关于网络安全的中文课程。\n"})
    assert load_course(folder).language == "zh"
    assert load_course(folder, CourseOverrides(language="en")).language == "en"


def test_language_is_detected_when_course_toml_does_not_say(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "c",
        {
            "course.toml": 'id = "c"\ntitle = "C"\n',
            "a.md": "# 密码\n\n请使用密码管理器，为每个账号设置不同的长密码。\n",
        },
    )
    assert load_course(folder).language == "zh"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Phishing is an attempt to trick you.", "en"),
        ("钓鱼攻击是指攻击者冒充可信的人或机构。", "zh"),
        ("在 Raspberry Pi 上运行 Python 代码，然后连接传感器。", "zh"),
        ("Use print('你好') to greet someone in Chinese, then run the program again.", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


# -- front matter ------------------------------------------------------------------------------


def test_split_front_matter() -> None:
    meta = {"title": "T", "minutes": 5}
    assert split_front_matter("---\ntitle: T\nminutes: 5\n---\n# Body\n") == (meta, "# Body\n")
    assert split_front_matter("# No front matter\n---\n") == ({}, "# No front matter\n---\n")
    assert split_front_matter("---\n---\nBody") == ({}, "Body")
    assert split_front_matter("---\ntitle: Only\n---") == ({"title": "Only"}, "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\ntitle: [unclosed\n---\nBody", "invalid front matter (line 2"),
        (
            "---\ntitle: ok\nminutes: 5\nkey: value: other\nmore: 1\n---\nBody",
            "invalid front matter (line 4: mapping values are not allowed here)",
        ),
        ("---\n- a list\n---\nBody", "front matter must be a mapping"),
    ],
)
def test_bad_front_matter_raises_unreadable(text: str, message: str) -> None:
    with pytest.raises(UnreadableDocument, match=re.escape(message)):
        split_front_matter(text)


def test_invalid_front_matter_is_a_problem_and_the_lesson_text_still_loads(tmp_path: Path) -> None:
    broken = "---\ntitle: Routing\nobjectives: [unclosed\n---\n# Routing\n\nRouters forward packets.\n"
    course = load_course(declared(tmp_path, **{"02-routing.md": broken}))
    reason = problems(course)["02-routing.md"]
    assert reason.startswith("invalid front matter (line ")
    assert "\n" not in reason
    routing = lesson(course, "routing")
    assert routing.sources and routing.sources[0].text.startswith("# Routing")
    assert routing.title == "Routing"


def test_quiz_item_with_answer_out_of_range_is_a_problem_and_the_lesson_loads(tmp_path: Path) -> None:
    text = INTRO.replace("answer: 0", "answer: 5") + ""
    text = text.replace("quiz:\n", "quiz:\n  - question: Good one?\n    options: [yes, no]\n    answer: 1\n")
    course = load_course(declared(tmp_path, **{"01-intro.md": text}))
    assert problems(course) == {"01-intro.md": "quiz item 2: answer must be an option index from 0 to 1"}
    intro = lesson(course, "intro")
    assert intro.sources and [q.question for q in intro.quiz] == ["Good one?"]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (
            "  - question: Q?\n    options: [only]\n    answer: 0\n",
            "needs a question and at least two options",
        ),
        ("  - question: Q?\n    options: [same, Same]\n    answer: 0\n", "options must be distinct"),
        ("  - question: Q?\n    options: [a, b]\n    answer: true\n", "answer must be an option index"),
        ("  - just a string\n", "a quiz item must be a mapping"),
    ],
)
def test_malformed_quiz_items_are_problems(tmp_path: Path, item: str, reason: str) -> None:
    text = f"---\nquiz:\n{item}---\n# Routing\n\nRouters forward packets.\n"
    course = load_course(declared(tmp_path, **{"02-routing.md": text}))
    assert reason in problems(course)["02-routing.md"]
    assert lesson(course, "routing").quiz == []


def test_front_matter_quiz_that_is_not_a_list_is_one_problem(tmp_path: Path) -> None:
    text = "---\nquiz: not a list\n---\n# Routing\n\ntext\n"
    course = load_course(declared(tmp_path, **{"02-routing.md": text}))
    assert [p.path for p in course.problems] == ["02-routing.md"]


def test_a_lesson_of_only_front_matter_is_a_problem(tmp_path: Path) -> None:
    course = load_course(declared(tmp_path, **{"02-routing.md": "---\ntitle: Empty\n---\n"}))
    assert problems(course) == {
        "02-routing.md": "contains only front matter, no lesson text",
        "lesson routing": "left out: all of its files were skipped",
    }


# -- course.toml errors ------------------------------------------------------------------------


def course_error(path: Path) -> str:
    with pytest.raises(CourseError) as info:
        load_course(path)
    return str(info.value)


@pytest.mark.parametrize("field", ["id", "title"])
def test_course_toml_missing_a_field_names_it(tmp_path: Path, field: str) -> None:
    toml = "\n".join(line for line in COURSE_TOML.splitlines() if not line.startswith(f"{field} ="))
    message = course_error(declared(tmp_path, toml))
    assert "course.toml" in message
    assert f"missing required field(s): {field}" in message


def test_invalid_course_toml_is_a_course_error(tmp_path: Path) -> None:
    message = course_error(declared(tmp_path, 'id = "x"\ntitle = \n'))
    assert "course.toml" in message and "not valid TOML" in message


def test_prerequisite_cycle_shows_the_cycle(tmp_path: Path) -> None:
    toml = COURSE_TOML.replace('file = "01-intro.md"', 'file = "01-intro.md"\nprerequisites = ["routing"]')
    message = course_error(declared(tmp_path, toml))
    assert "cycle" in message
    assert "intro -> routing -> intro" in message


def test_unknown_prerequisite_is_named(tmp_path: Path) -> None:
    toml = COURSE_TOML.replace('prerequisites = ["intro"]', 'prerequisites = ["intro", "ghost"]')
    message = course_error(declared(tmp_path, toml))
    assert "lesson 'routing' has unknown prerequisite(s): ghost" in message


def test_duplicate_lesson_ids_are_named(tmp_path: Path) -> None:
    message = course_error(declared(tmp_path, COURSE_TOML.replace('id = "routing"', 'id = "intro"')))
    assert "duplicate lesson id(s): intro" in message


def test_lesson_without_a_file_is_a_course_error(tmp_path: Path) -> None:
    message = course_error(declared(tmp_path, COURSE_TOML.replace('file = "02-routing.md"', "")))
    assert "lesson #2 needs both 'id' and 'file'" in message


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('premium = "false"', "premium"),
        ("desired_retention = 1.5", "desired_retention"),
        ('desired_retention = "high"', "desired_retention"),
        ("track = 3", "track"),
    ],
)
def test_course_toml_values_of_the_wrong_type_name_the_field(tmp_path: Path, line: str, field: str) -> None:
    key = line.split(" =")[0]
    toml = "\n".join(line if row.startswith(f"{key} =") else row for row in COURSE_TOML.splitlines())
    assert f"'{field}' must be" in course_error(declared(tmp_path, toml))


def test_prerequisites_must_be_a_list(tmp_path: Path) -> None:
    toml = COURSE_TOML.replace('prerequisites = ["intro"]', 'prerequisites = "intro"')
    assert "'prerequisites' must be a list" in course_error(declared(tmp_path, toml))


def test_listed_file_that_is_missing_is_a_problem(tmp_path: Path) -> None:
    folder = declared(tmp_path)
    (folder / "02-routing.md").unlink()
    course = load_course(folder)
    assert problems(course) == {
        "02-routing.md": "listed in course.toml but not found",
        "lesson routing": "left out: all of its files were skipped",
    }
    assert lesson(course, "intro").sources


def test_listed_file_outside_the_course_folder_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "secret.md").write_text("# Secret\n\nnot course material\n", encoding="utf-8")
    folder = declared(tmp_path, COURSE_TOML.replace('file = "02-routing.md"', 'file = "../secret.md"'))
    course = load_course(folder)
    assert problems(course) == {
        "../secret.md": "listed in course.toml but outside the course folder",
        "lesson routing": "left out: all of its files were skipped",
    }
    assert "routing" not in [item.lesson_id for item in course.lessons]


# -- bad input without course.toml -------------------------------------------------------------


def test_empty_folder_is_a_course_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "no readable document found" in course_error(tmp_path / "empty")


def test_missing_path_is_a_course_error(tmp_path: Path) -> None:
    message = course_error(tmp_path / "nope")
    assert str(tmp_path / "nope") in message and "no such file or folder" in message


def test_folder_where_every_file_is_unreadable_is_a_course_error_naming_them(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "bad",
        {
            "a.pdf": b"%PDF-1.4 garbage",
            "b.md": b"\x00\x01\x02binary",
            "notes.xyz": "ignored: not a document type",
        },
    )
    message = course_error(folder)
    assert "no readable document found" in message
    assert "a.pdf: corrupt PDF" in message or "a.pdf: not a readable PDF" in message
    assert "b.md: binary content" in message


def test_bad_files_are_listed_and_the_rest_loads(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "mixed",
        {
            "1-good.md": "# Good\n\nReadable lesson.\n",
            "2-corrupt.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog",
            "3-image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "4-empty.txt": "",
            "5-bad-yaml.md": "---\ntitle: [x\n---\n# Still here\n\nBody survives.\n",
        },
    )
    course = load_course(folder)
    found = problems(course)
    files = {"2-corrupt.pdf", "3-image.md", "4-empty.txt", "5-bad-yaml.md"}
    assert set(found) == files | {"lesson 2-corrupt", "lesson 3-image", "lesson 4-empty"}
    assert "PDF" in found["2-corrupt.pdf"]
    assert "binary" in found["3-image.md"]
    assert found["4-empty.txt"] == "contains no text"
    assert found["5-bad-yaml.md"].startswith("invalid front matter")
    assert [str(p) for p in course.problems][0].startswith("2-corrupt.pdf: ")
    assert {item.lesson_id for item in course.lessons if item.sources} == {"1-good", "5-bad-yaml"}


# -- inferred structure ------------------------------------------------------------------------


def test_flat_folder_makes_one_lesson_per_file_in_name_order(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "Pile of notes",
        {
            "README.md": "# About these notes\n\nAn overview.\n",
            "10-ten.md": "# Ten\n\ntext\n",
            "2-two.txt": "Two\n",
            "1-one.md": "Plain text without a heading.\n",
        },
    )
    course = load_course(folder)
    assert (course.course_id, course.title) == ("pile-of-notes", "About these notes")
    assert [(item.lesson_id, item.order) for item in course.lessons if item.lesson_id] == [
        ("1-one", 0),
        ("2-two", 1),
        ("10-ten", 2),
    ]
    assert lesson(course, "10-ten").title == "Ten"
    assert lesson(course, "1-one").title == "One", "without a heading the name is humanised"
    overview = lesson(course, "")
    assert [s.path for s in overview.sources] == ["README.md"]


def test_flat_folder_with_one_subfolder_still_makes_one_lesson_per_file(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "pile",
        {
            "a.md": "# A\n\ntext\n",
            "b.md": "# B\n\ntext\n",
            "c.txt": "C\n",
            "appendix/extra.md": "# Extra\n\ntext\n",
        },
    )
    course = load_course(folder)
    assert [item.lesson_id for item in course.lessons] == ["a", "appendix/extra", "b", "c"]


def test_every_supported_format_loads_in_one_folder(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Word lesson", level=1)
    document.add_paragraph("From a DOCX.")
    folder = write(
        tmp_path / "formats",
        {
            "1-md.md": "# Markdown lesson\n\nFrom Markdown.\n",
            "2-pdf.pdf": make_pdf(["From a PDF."]),
            "3-html.html": "<h1>Web lesson</h1><p>From HTML.</p>",
            "5-txt.txt": "From plain text.\n",
        },
    )
    document.save(str(folder / "4-docx.docx"))
    course = load_course(folder)
    assert course.problems == []
    texts = {item.lesson_id: item.sources[0].text for item in course.lessons}
    assert list(texts) == ["1-md", "2-pdf", "3-html", "4-docx", "5-txt"]
    for lesson_id, words in [
        ("1-md", "From Markdown"),
        ("2-pdf", "From a PDF"),
        ("3-html", "From HTML"),
        ("4-docx", "From a DOCX"),
        ("5-txt", "From plain text"),
    ]:
        assert words in texts[lesson_id]
    assert lesson(course, "3-html").title == "Web lesson"
    assert lesson(course, "4-docx").title == "Word lesson"


def test_single_file_is_a_one_lesson_course(tmp_path: Path) -> None:
    text = "---\ntitle: Strong passwords\nminutes: 4\n---\n# Heading\n\ntext\n"
    path = write(tmp_path, {"02-passwords.md": text})
    course = load_course(path / "02-passwords.md")
    assert course.course_id == "02-passwords"
    assert [(item.lesson_id, item.title, item.minutes) for item in course.lessons] == [
        ("02-passwords", "Strong passwords", 4),
    ]
    assert course.lessons[0].sources[0].path == "02-passwords.md"


def test_single_pdf_is_a_one_lesson_course(tmp_path: Path) -> None:
    path = tmp_path / "Security handout.pdf"
    path.write_bytes(make_pdf(["Lock your screen when you leave your desk."]))
    course = load_course(path)
    assert [item.lesson_id for item in course.lessons] == ["Security handout"]
    assert course.course_id == "security-handout"
    assert course.language == "en"


def test_single_unreadable_file_is_a_course_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4 nope")
    assert "broken.pdf" in course_error(path)


def test_repository_layout_lessons_are_folders(tmp_path: Path) -> None:
    lesson_text = "# {0}\n\nLesson text.\n"
    folder = write(
        tmp_path / "repo",
        {
            "README.md": "# The course\n\nStart here.\n",
            "1-basics/README.md": "# Basics module\n\nOverview.\n",
            "1-basics/lessons/2-second/README.md": lesson_text.format("Second"),
            "1-basics/lessons/10-tenth/README.md": lesson_text.format("Tenth"),
            "1-basics/lessons/1-first/assignment.md": "# Assignment\n\nDo it.\n",
            "1-basics/lessons/1-first/README.md": lesson_text.format("First"),
            "1-basics/lessons/1-first/pi.md": "# On a Pi\n\nSteps.\n",
            "1-basics/lessons/1-first/images/diagram.png": b"\x89PNG",
            "2-more/README.md": "# More module\n\nOverview.\n",
            "2-more/lessons/1-third/README.md": lesson_text.format("Third"),
            ".git/config": "[core]\n",
            "node_modules/pkg/README.md": "# not course material\n",
        },
    )
    course = load_course(folder)
    assert course.problems == []
    ids = [item.lesson_id for item in course.lessons if item.lesson_id]
    assert ids == [
        "1-basics/lessons/1-first",
        "1-basics/lessons/2-second",
        "1-basics/lessons/10-tenth",
        "2-more/lessons/1-third",
    ]
    orders = [item.order for item in course.lessons if item.lesson_id]
    assert orders == sorted(orders)
    first = lesson(course, "1-basics/lessons/1-first")
    assert first.title == "First"
    assert first.module == "1-basics"
    assert [s.path for s in first.sources] == [
        "1-basics/lessons/1-first/README.md",
        "1-basics/lessons/1-first/assignment.md",
        "1-basics/lessons/1-first/pi.md",
    ]
    overview = lesson(course, "")
    assert overview.title == "The course"
    assert [s.path for s in overview.sources] == ["README.md", "1-basics/README.md", "2-more/README.md"]


def test_material_folders_are_never_lessons(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "ml",
        {
            "1-intro/1-what/README.md": "# What\n\ntext\n",
            "1-intro/2-why/README.md": "# Why\n\ntext\n",
            "1-intro/2-why/solution/R/README.md": "# R solution\n\ncode\n",
            "1-intro/2-why/solution/Julia/README.md": "# Julia solution\n\ncode\n",
            "1-intro/3-how/solution/R/README.md": "# R solution\n\ncode\n",
            "1-intro/3-how/solution/Julia/README.md": "# Julia solution\n\ncode\n",
            "1-intro/3-how/solution/Python/README.md": "# Python solution\n\ncode\n",
            "1-intro/3-how/README.md": "# How\n\ntext\n",
            "1-intro/data/README.md": "Download the data here.\n",
        },
    )
    course = load_course(folder)
    assert [item.lesson_id for item in course.lessons if item.lesson_id] == [
        "1-intro/1-what",
        "1-intro/2-why",
        "1-intro/3-how",
    ]
    how = lesson(course, "1-intro/3-how")
    assert how.title == "How", "the lesson's own README is its main page, not a solution README"
    assert how.sources[0].path == "1-intro/3-how/README.md"
    assert len(how.sources) == 4
    assert [s.path for s in lesson(course, "").sources] == ["1-intro/data/README.md"]


def test_hidden_and_tool_folders_are_skipped(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "c",
        {
            "a.md": "# A\n\ntext\n",
            ".github/README.md": "# hidden\n",
            "__pycache__/x.md": "# cache\n",
        },
    )
    assert [item.lesson_id for item in load_course(folder).lessons] == ["a"]


@pytest.mark.parametrize(
    ("folders", "course_id"),
    [
        ("security", "security"),
        ("security/lessons/en", "security-en"),
        ("security/zh-CN", "security-zh-cn"),
        ("My Course/docs", "my-course"),
    ],
)
def test_inferred_course_id_skips_language_and_generic_folder_names(
    tmp_path: Path, folders: str, course_id: str
) -> None:
    folder = write(tmp_path / folders, {"a.md": "# A\n\ntext\n"})
    assert load_course(folder).course_id == course_id


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["10-ten", "2-two", "1-one", "README.md", "1-One-b"]
    assert sorted(names, key=natural_key) == ["1-one", "1-One-b", "2-two", "10-ten", "README.md"]


# -- the real course repositories ---------------------------------------------------------------


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def iot_en() -> Course:
    return load_course(IOT / "lessons" / "en")


@pytest.fixture(scope="module")
def iot_zh() -> Course:
    return load_course(IOT / "lessons" / "zh")


@pytest.fixture(scope="module")
def ml_en() -> Course:
    return load_course(ML / "lessons" / "en")


@needs_corpora
@pytest.mark.integration
class TestIoTForBeginners:
    def test_lesson_ids_are_the_lesson_folders(self, iot_en: Course) -> None:
        expected = [row["lesson_path"] for row in jsonl(IOT / "lessons.jsonl")]
        assert len(expected) == 24
        ids = [item.lesson_id for item in iot_en.lessons if item.lesson_id]
        assert set(ids) == set(expected)
        assert len(ids) == len(set(ids))
        assert "1-getting-started/lessons/1-introduction-to-iot" in ids

    def test_titles_come_from_the_lesson_readme(self, iot_en: Course) -> None:
        titles = {item.lesson_id: item.title for item in iot_en.lessons}
        for row in jsonl(IOT / "lessons.jsonl"):
            assert titles[row["lesson_path"]] == row["title"]

    def test_order_follows_names(self, iot_en: Course) -> None:
        lessons = sorted((item for item in iot_en.lessons if item.lesson_id), key=lambda item: item.order)
        keys = [[natural_key(part) for part in item.lesson_id.split("/")] for item in lessons]
        assert keys == sorted(keys)
        assert lessons[0].lesson_id == "1-getting-started/lessons/1-introduction-to-iot"

    def test_device_pages_and_assignments_belong_to_their_lesson(self, iot_en: Course) -> None:
        intro = lesson(iot_en, "1-getting-started/lessons/1-introduction-to-iot")
        paths = [s.path for s in intro.sources]
        assert paths[0] == "1-getting-started/lessons/1-introduction-to-iot/README.md"
        for page in ("pi.md", "assignment.md", "virtual-device.md", "wio-terminal.md"):
            assert f"1-getting-started/lessons/1-introduction-to-iot/{page}" in paths
        assert intro.module == "1-getting-started"

    def test_module_overviews_and_the_top_readme_belong_to_no_lesson(self, iot_en: Course) -> None:
        overview = lesson(iot_en, "")
        paths = [s.path for s in overview.sources]
        assert paths[0] == "README.md"
        assert paths[1:] == [
            f"{m}/README.md"
            for m in (
                "1-getting-started",
                "2-farm",
                "3-transport",
                "4-manufacturing",
                "5-retail",
                "6-consumer",
            )
        ]

    def test_every_file_is_loaded_once_without_problems(self, iot_en: Course) -> None:
        root = IOT / "lessons" / "en"
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.md"))
        loaded = sorted(s.path for item in iot_en.lessons for s in item.sources)
        assert loaded == files
        assert iot_en.problems == []
        assert iot_en.language == "en"

    def test_translations_get_distinct_course_ids_and_the_readme_title(
        self, iot_en: Course, iot_zh: Course, ml_en: Course
    ) -> None:
        assert (iot_en.course_id, iot_zh.course_id, ml_en.course_id) == (
            "iot-for-beginners-en",
            "iot-for-beginners-zh",
            "ml-for-beginners-en",
        )
        assert iot_en.title == "IoT for Beginners - A Curriculum"

    def test_chinese_translation_has_the_same_lessons(self, iot_zh: Course, iot_en: Course) -> None:
        assert iot_zh.language == "zh"
        assert {item.lesson_id for item in iot_zh.lessons} == {item.lesson_id for item in iot_en.lessons}
        assert lesson(iot_zh, "1-getting-started/lessons/1-introduction-to-iot").title == "物联网简介"
        assert iot_zh.problems == []

    def test_language_override(self) -> None:
        course = load_course(IOT / "lessons" / "zh" / "1-getting-started", CourseOverrides(language="en"))
        assert course.language == "en"


@needs_corpora
@pytest.mark.integration
class TestMLForBeginners:
    def test_lessons_are_module_lesson_folders(self, ml_en: Course) -> None:
        expected = [row["lesson_path"] for row in jsonl(ML / "lessons.jsonl")]
        ids = [item.lesson_id for item in ml_en.lessons if item.lesson_id]
        assert ids == expected, "the same lessons, in the same (name) order"
        assert all(len(lesson_id.split("/")) == 2 for lesson_id in ids)

    def test_titles_come_from_the_lesson_readme(self, ml_en: Course) -> None:
        titles = {item.lesson_id: item.title for item in ml_en.lessons}
        for row in jsonl(ML / "lessons.jsonl"):
            assert titles[row["lesson_path"]] == row["title"]

    def test_solution_pages_belong_to_the_lesson(self, ml_en: Course) -> None:
        tools = lesson(ml_en, "2-Regression/1-Tools")
        assert [s.path for s in tools.sources] == [
            "2-Regression/1-Tools/README.md",
            "2-Regression/1-Tools/assignment.md",
            "2-Regression/1-Tools/solution/Julia/README.md",
        ]
        assert tools.module == "2-Regression"
        nlp = lesson(ml_en, "6-NLP/3-Translation-Sentiment")
        assert {s.path.split("/solution/")[-1] for s in nlp.sources if "/solution/" in s.path} == {
            "Julia/README.md",
            "R/README.md",
        }

    def test_data_folder_is_not_a_lesson(self, ml_en: Course) -> None:
        assert "6-NLP/data/README.md" in [s.path for s in lesson(ml_en, "").sources]
        assert ml_en.problems == []
        assert ml_en.language == "en"


# -- links out of the course folder (issue 14 row 1) ---------------------------------------------


def test_symlink_to_a_file_outside_an_inferred_course_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "01-intro.md").write_text("# Intro\n\nReal course text.\n", encoding="utf-8")
    (folder / "passwd.md").symlink_to(secret)
    (folder / "inside.md").symlink_to(folder / "01-intro.md")  # a link inside the course is fine
    course = load_course(folder)
    texts = " ".join(s.text for lesson in course.lessons for s in lesson.sources)
    assert "root:x" not in texts
    assert problems(course)["passwd.md"] == "a link to a file outside the course folder"
    assert "inside.md" not in problems(course)


def test_symlinked_folder_and_hard_link_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nroot:x:0:0\n", encoding="utf-8")
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "01-intro.md").write_text("# Intro\n\nReal course text.\n", encoding="utf-8")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    (folder / "hard.md").hardlink_to(outside / "secret.md")
    course = load_course(folder)
    texts = " ".join(s.text for lesson in course.lessons for s in lesson.sources)
    assert "root:x" not in texts
    assert "hard link" in problems(course)["hard.md"]


def test_listed_symlink_out_of_a_declared_course_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.md").write_text("# Secret\n\nnot course material\n", encoding="utf-8")
    folder = declared(tmp_path)
    (folder / "02-routing.md").unlink()
    (folder / "02-routing.md").symlink_to(tmp_path / "secret.md")
    course = load_course(folder)
    assert problems(course) == {
        "02-routing.md": "listed in course.toml but a link to a file outside the course folder",
        "lesson routing": "left out: all of its files were skipped",
    }


# -- no empty lessons, no huge documents (issue 14) --------------------------------------------


def test_a_lesson_whose_every_file_was_skipped_is_left_out_and_its_prerequisites_pass_on(
    tmp_path: Path,
) -> None:
    toml = (
        'id = "net"\ntitle = "Networking"\n'
        '[[lessons]]\nid = "intro"\nfile = "1.md"\n'
        '[[lessons]]\nid = "broken"\nfile = "2.md"\nprerequisites = ["intro"]\n'
        '[[lessons]]\nid = "routing"\nfile = "3.md"\nprerequisites = ["broken"]\n'
    )
    folder = write(
        tmp_path / "net",
        {"course.toml": toml, "1.md": "# Intro\n\nText.\n", "2.md": b"\x00\x01", "3.md": "# R\n\nText.\n"},
    )
    course = load_course(folder)
    assert [(item.lesson_id, item.order) for item in course.lessons] == [("intro", 0), ("routing", 1)]
    assert lesson(course, "routing").prerequisites == ["intro"]
    assert problems(course)["lesson broken"] == "left out: all of its files were skipped"


def test_an_inferred_lesson_folder_of_unreadable_files_is_left_out(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "birds",
        {"1-owls/README.md": "# Owls\n\nOwls hunt.\n", "2-crows/README.md": "---\ntitle: Crows\n---\n"},
    )
    course = load_course(folder)
    assert [item.lesson_id for item in course.lessons] == ["1-owls"]
    assert "lesson 2-crows" in problems(course)


def test_a_document_over_the_size_cap_is_skipped_and_named(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "big",
        {"1-small.md": "# Small\n\nText.\n", "2-huge.txt": "word " * 300_000},  # 1.5 MB
    )
    course = load_course(folder, max_document_bytes=1_000_000)
    assert [item.lesson_id for item in course.lessons] == ["1-small"]
    assert "holds 1.5 MB of text; the limit is 1 MB" in problems(course)["2-huge.txt"]
    assert [item.lesson_id for item in load_course(folder).lessons] == ["1-small", "2-huge"]


def test_a_translated_readme_is_the_lesson_page_and_names_the_lesson(tmp_path: Path) -> None:
    """Issue 12: lesson folders holding README.zh-cn.md and an assignment took the assignment's title."""
    for n, topic in ((1, "回归"), (2, "分类")):
        folder = tmp_path / "课程" / f"{n}-lesson"
        folder.mkdir(parents=True)
        (folder / "assignment.zh-cn.md").write_text("# 作业\n\n完成练习。\n", encoding="utf-8")
        (folder / "README.zh-cn.md").write_text(f"# {topic}入门\n\n本课讲{topic}。\n", encoding="utf-8")
    course = load_course(tmp_path / "课程")
    assert [lesson.title for lesson in course.lessons if lesson.lesson_id] == ["回归入门", "分类入门"]


def test_a_course_whose_language_cannot_be_detected_is_loaded_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "kurs"
    folder.mkdir()
    (folder / "01-intro.md").write_text(
        "# Введение\n\n" + "Это урок о датчиках и сетях. " * 20, encoding="utf-8"
    )
    course = load_course(folder)
    assert course.lessons and any("language could not be detected" in p.reason for p in course.problems)
