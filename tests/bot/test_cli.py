"""The `learnbot` command as a user runs it: a subprocess, a real data dir, the packaged embedder."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.loaders import load_course

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "bot" / "sample_courses"
pytestmark = pytest.mark.slow


def learnbot(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNBOT_")}
    env.update(LEARNBOT_DATA_DIR=str(data_dir), LEARNBOT_GENERATOR="extractive", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"learnbot {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("cli")
    learnbot(data, "ingest", str(SAMPLES / "security-basics"))
    return data


def test_ingest_is_incremental_and_courses_lists_it(data_dir):
    again = learnbot(data_dir, "ingest", str(SAMPLES / "security-basics"))
    assert "0 chunks embedded" in again.stdout
    listing = learnbot(data_dir, "courses").stdout
    assert "security-basics" in listing and "onboarding" in listing


def test_search_and_ask_json(data_dir):
    found = json.loads(learnbot(data_dir, "search", "passphrase length", "-k", "3", "--json").stdout)
    assert found["query"] == "passphrase length" and len(found["results"]) == 3
    assert {"course_id", "lesson_id", "lesson_title", "heading", "source_path", "score", "text"} <= set(
        found["results"][0]
    )
    answer = json.loads(learnbot(data_dir, "ask", "How long must a company password be?", "--json").stdout)
    assert answer["grounded"] is True and answer["language"] == "en"
    assert answer["citations"][0]["lesson_id"] == "passwords"
    assert {"n", "course_id", "lesson_id", "lesson_title", "heading", "source_path", "score"} <= set(
        answer["citations"][0]
    )
    assert answer["latency_ms"] > 0


def test_batch_mode_keeps_ids(data_dir, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a", "question": "What is phishing?"}\n{"id": 7, "question": "Who won the 2014 World Cup?"}\n'
    )
    lines = learnbot(data_dir, "ask", "--from-file", str(questions), "--json").stdout.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == ["a", 7]
    assert rows[1]["grounded"] is False
    lines = learnbot(data_dir, "search", "--from-file", str(questions), "--json").stdout.strip().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", 7]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/folder"], "no such file or folder"),
        (["remove", "nope"], "no course with id 'nope'"),
        (["ask"], "give a question"),
        (["ingest", str(SAMPLES), "--language", "fr"], "--language must be en or zh"),
    ],
)
def test_cli_errors_are_one_clear_line_and_exit_2(data_dir, args, message):
    result = learnbot(data_dir, *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_course_leaves_existing_data_whole(data_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "course.toml").write_text('title = "No id"\n')
    result = learnbot(data_dir, "ingest", str(broken), check=False)
    assert result.returncode == 2 and "missing required field(s): id" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert learnbot(data_dir, "ingest", str(empty), check=False).returncode == 2
    assert "security-basics" in learnbot(data_dir, "courses").stdout


def test_reindex_switches_embedder_and_a_mismatch_names_reindex(tmp_path):
    data = tmp_path / "data"
    learnbot(data, "ingest", str(SAMPLES / "security-basics-zh"))
    env_mismatch = learnbot(data, "search", "密码", check=False)
    assert env_mismatch.returncode == 0
    learnbot(data, "reindex", "--embedder", "minilm")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "search", "密码"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("LEARNBOT_")},
            "LEARNBOT_DATA_DIR": str(data),
            "LEARNBOT_EMBEDDER": "use",
        },
    )
    assert result.returncode == 2 and "learnbot reindex" in result.stderr
    assert learnbot(data, "search", "密码", "--json").returncode == 0  # follows the index's own embedder


# -- issue 14: in-process runs with the test doubles (no model), as a careless admin types them --------


@pytest.fixture
def runner_app(tmp_path, monkeypatch):
    """``learnbot`` run in-process against a TestBot app (hash embedder, fake generator), not a TTY."""
    from typer.testing import CliRunner

    import bot.cli as cli_module
    from bot.cli import common
    from bot.testing import TestBot

    for key in [k for k in os.environ if k.startswith("LEARNBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LEARNBOT_DATA_DIR", str(tmp_path / "data"))
    testbot = TestBot.build(tmp_path / "data")
    monkeypatch.setattr(common, "open_app", lambda **_: testbot.app)

    def run(*args: str):
        return CliRunner().invoke(cli_module.cli, list(args))

    return run, testbot


def _course(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


MARKUP = "[bold]Rich[/bold] [/docs] :x: \\"


def test_course_text_with_markup_is_printed_literally(runner_app, tmp_path):
    run, _ = runner_app
    folder = _course(
        tmp_path / "rich",
        {
            "course.toml": f'id = "rich"\ntitle = {json.dumps(MARKUP)}\ntrack = "[/t]"\n',
            "intro.md": f"# {MARKUP}\n\nPhishing mail asks for passwords. See [/docs] and :x: [/bold]\n",
        },
    )
    assert run("ingest", str(folder)).exit_code == 0
    listing = run("courses")
    assert listing.exit_code == 0, listing.output
    assert "[bold]Rich[/bold] [/docs] :x:" in listing.stdout and "[/t]" in listing.stdout
    found = run("search", "phishing passwords")
    assert found.exit_code == 0, found.output
    assert MARKUP in found.stdout and "See [/docs] and :x: [/bold]" in found.stdout
    answer = run("ask", "What does phishing mail ask for?")
    assert answer.exit_code == 0, answer.output
    assert ":x:" in answer.stdout and "❌" not in answer.stdout and MARKUP in answer.stdout
    refused = run("ask", "Which zebra won the cup?")  # lists the closest lessons: the title ends a line
    assert f"- {MARKUP}\n" in refused.stdout, "a backslash is printed once, not escaped"


def test_ingest_leaves_out_empty_lessons_and_exits_1_when_something_was_skipped(runner_app, tmp_path):
    run, testbot = runner_app
    folder = _course(
        tmp_path / "birds",
        {"1-owls/README.md": "# Owls\n\nOwls hunt at night.\n", "2-crows/README.md": b"\x00\x01\x02binary"},
    )
    result = run("ingest", str(folder))
    assert result.exit_code == 1, result.output
    assert "skipped 2-crows/README.md" in result.stderr
    assert "skipped lesson 2-crows: left out" in result.stderr
    assert "birds: 1 lessons" in result.stdout
    assert [row.lesson_id for row in testbot.app.store.lessons("birds")] == ["1-owls"]
    assert run("ingest", str(folder / "1-owls")).exit_code == 0, "nothing skipped: exit 0"


def test_ingest_prints_plain_progress_when_not_a_terminal_and_caps_huge_documents(
    runner_app, tmp_path, monkeypatch
):
    run, _ = runner_app
    monkeypatch.setenv("LEARNBOT_MAX_DOCUMENT_MB", "1")
    folder = _course(
        tmp_path / "big",
        {
            "1-small.md": "# Small\n\n" + "Owls hunt at night. " * 200,
            "2-medium.md": "# Medium\n\n" + "Crows use tools. " * 400,
            "3-huge.txt": "word " * 300_000,
        },
    )
    result = run("ingest", str(folder))
    assert result.exit_code == 1
    assert "lesson 1/2 1-small:" in result.stderr and "lesson 2/2 2-medium:" in result.stderr
    total = result.stdout.split(" chunks embedded")[0].rsplit(" ", 1)[-1]
    assert f"embedding big: {total}/{total}" in result.stderr
    assert "3-huge.txt: holds 1.5 MB of text; the limit is 1 MB (LEARNBOT_MAX_DOCUMENT_MB)" in result.stderr


def test_ask_refuses_an_empty_or_too_long_question_like_chat(runner_app):
    from bot.cli import CliError  # `main` prints it as one line, exit status 2

    run, testbot = runner_app
    testbot.app.settings = dataclasses.replace(
        testbot.app.settings, max_message_chars=50
    )  # LEARNBOT_MAX_MESSAGE_CHARS
    empty = run("ask", " \x00\u200b ")
    assert isinstance(empty.exception, CliError) and "the question is empty" in str(empty.exception)
    long = run("ask", "why " * 20)
    assert isinstance(long.exception, CliError)
    assert "79 characters long; I read up to 50" in str(long.exception)


def test_a_batch_reports_bad_lines_and_goes_on(runner_app, tmp_path):
    run, testbot = runner_app
    testbot.ingest(SAMPLES / "security-basics")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a", "question": "What is phishing?"}\n'
        '{"id": "s", "question": "What is phishing?\\udcff"}\n'
        "not json\n"
        '{"id": "e", "question": null}\n'
        '{"id": "c", "question": "\\u0000\\u200b "}\n'
        '{"id": "\\udcff", "question": "What is phishing?"}\n'
        '{"id": "z", "question": "How long should a passphrase be?"}\n',
        encoding="utf-8",
    )
    for command in ("ask", "search"):
        result = run(command, "--from-file", str(questions))
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["id"] for r in rows] == ["a", "s", 3, "e", "c", "\udcff", "z"], command
        assert [bool(r.get("error")) for r in rows] == [False, False, True, True, True, False, False]
        assert "the question is empty" in rows[3]["error"] and "skipped" in result.stderr
        assert result.exit_code == 1, "a bad line is an exit status 1 for scripts"


def test_a_batch_file_saved_by_notepad_reads_from_its_first_line(runner_app, tmp_path):
    run, testbot = runner_app
    testbot.ingest(SAMPLES / "security-basics")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": 1, "question": "What is phishing?"}\r\n', encoding="utf-8-sig")
    result = run("search", "--from-file", str(questions))
    assert result.exit_code == 0 and "error" not in json.loads(result.stdout)


def test_an_error_quoting_course_text_is_one_literal_line(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "course.toml").write_text(
        'id = "b"\ntitle = "B"\n[[lessons]]\nid = "x"\nfile = "x.md"\nprerequisites = ["[/docs] :x:"]\n'
    )
    result = learnbot(tmp_path / "data", "ingest", str(folder), check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown prerequisite(s): [/docs] :x:" in result.stderr


def test_remove_of_a_half_ingested_course_says_what_it_removed_and_gc_cleans_leftovers(runner_app, tmp_path):
    """Issue 14 row 10: `remove` printed "no course" yet deleted the leftovers; `gc` cleans them."""
    run, testbot = runner_app
    app = testbot.app
    commit = app.store.commit_course
    app.store.commit_course = lambda *a: (_ for _ in ()).throw(KeyboardInterrupt("killed"))
    with pytest.raises(KeyboardInterrupt):
        app.ingestor.ingest(load_course(SAMPLES / "security-basics"))
    app.store.commit_course = commit
    leftover = app.index.count()
    result = run("remove", "security-basics")
    assert result.exit_code == 0 and f"removed {leftover} leftover records" in result.output
    assert app.index.count() == 0
    with pytest.raises(KeyboardInterrupt):
        app.store.commit_course = lambda *a: (_ for _ in ()).throw(KeyboardInterrupt("killed"))
        app.ingestor.ingest(load_course(SAMPLES / "security-basics"))
    app.store.commit_course = commit
    result = run("gc")
    assert result.exit_code == 0 and f"removed {leftover} leftover records" in result.output
    assert app.index.count() == 0


def test_an_error_line_never_prints_a_secret(tmp_path):
    """A CLI error quoting what it was given (here a path) redacts secret values, like the logs."""
    secret = "7012345678:AAH-not-a-real-token-but-secret-shaped"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNBOT_")}
    env.update(LEARNBOT_DATA_DIR=str(tmp_path / "data"), TELEGRAM_BOT_TOKEN=secret, HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", str(tmp_path / secret)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 2 and "error:" in result.stderr
    assert secret not in result.stderr + result.stdout
