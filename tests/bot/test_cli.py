"""The `learnbot` command as a user runs it: a subprocess, a real data dir, the packaged embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
