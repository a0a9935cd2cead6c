"""Crash tests: ``learnbot`` is killed with SIGKILL mid-ingestion and mid-push-run, then restarted.

The subprocess is the real CLI (``tests/crash_entry.py`` adds the hash embedder and checkpoints where it
pauses, so the test knows it is mid-way). After a restart the index holds the old or the new version of
each lesson, never a mix; no push is lost and none is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.fakes.telegram import TOKEN, FakeTelegram
from bot.app import _HELD_LOCKS
from bot.testing import TestBot
from knowledge.chunking import Chunker
from knowledge.ingest import lesson_version
from knowledge.loaders import load_course

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "bot" / "sample_courses"
COURSE = "crashcourse"
CHUNK_SIZE, OVERLAP = 300, 100
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LEARNERS = [str(5001 + n) for n in range(5)]
pytestmark = [pytest.mark.integration, pytest.mark.slow]
RUNS: list[str] = []
"""What each test killed, for the report (``-s`` prints it at the end)."""


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(
        LEARNBOT_DATA_DIR=str(data),
        LEARNBOT_EMBEDDER="hash",
        LEARNBOT_GENERATOR="extractive",
        LEARNBOT_CHUNK_SIZE=str(CHUNK_SIZE),
        LEARNBOT_CHUNK_OVERLAP=str(OVERLAP),
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


async def _start(data: Path, *args: str, **extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash_entry",
        *args,
        cwd=ROOT,
        env=_env(data, **extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def learnbot(data: Path, *args: str, **extra: str) -> str:
    """Run to the end; its stdout."""
    process = await _start(data, *args, **extra)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, f"learnbot {' '.join(args)}:\n{stdout.decode()}\n{stderr.decode()}"
    return stdout.decode()


async def killed_at(data: Path, crash_at: str, *args: str, **extra: str) -> list[str]:
    """Run until it reports checkpoint ``crash_at`` (``NAME:N``), SIGKILL it by its pid; what it printed."""
    process = await _start(data, *args, LEARNBOT_CRASH_AT=crash_at, **extra)
    assert process.stdout is not None
    printed: list[str] = []
    try:
        while True:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=300)
            if not line:
                stderr = await process.stderr.read() if process.stderr else b""
                raise AssertionError(f"ended before {crash_at}: {stderr.decode()[-2000:]}")
            if line.startswith(b"CHECKPOINT"):
                break
            printed.append(line.decode())
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    RUNS.append(f"killed at {crash_at}")
    return printed


# -- ingestion -------------------------------------------------------------------------------------


def _write_course(root: Path, lessons: dict[str, str]) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    toml = [f'id = "{COURSE}"', 'title = "Crash course"', 'language = "en"']
    for lesson_id, text in lessons.items():
        (root / f"{lesson_id}.md").write_text(text, encoding="utf-8")
        toml += ["[[lessons]]", f'id = "{lesson_id}"', f'file = "{lesson_id}.md"']
    (root / "course.toml").write_text("\n".join(toml) + "\n", encoding="utf-8")
    return root


def _lesson(lesson_id: str, edition: str) -> str:
    rng = random.Random(f"{lesson_id}-{edition}")
    words = ["sensor", "relay", "gateway", "packet", "battery", "antenna", "firmware", "broker", "topic"]
    sections = []
    for s in range(10):
        paragraphs = [
            " ".join(rng.choice(words) for _ in range(18)) + f" {lesson_id} {edition} section {s} part {p}."
            for p in range(8)
        ]
        sections.append(f"## Section {s}\n\n" + "\n\n".join(paragraphs))
    return f"# Lesson {lesson_id}\n\n" + "\n\n".join(sections) + "\n"


def _editions(tmp: Path) -> tuple[Path, Path]:
    old = {f"l{n}": _lesson(f"l{n}", "first") for n in range(1, 9)}
    new = {k: (_lesson(k, "second") if k in ("l1", "l3", "l5") else v) for k, v in old.items() if k != "l8"}
    new["l9"] = _lesson("l9", "second")
    return _write_course(tmp / "v1" / COURSE, old), _write_course(tmp / "v2" / COURSE, new)


def _expected(folder: Path) -> dict[str, tuple[str, list[str]]]:
    """Each lesson's version and chunk ids, as an ingestion of ``folder`` makes them live."""
    course = load_course(folder)
    chunker = Chunker(CHUNK_SIZE, OVERLAP)
    found = {}
    for lesson in course.lessons:
        chunks = chunker.chunk_lesson(course, lesson)
        found[lesson.lesson_id] = (lesson_version(course, lesson, chunks), sorted(c.chunk_id for c in chunks))
    return found


def _which(state: dict, old: dict, new: dict) -> str:
    """``"old"`` or ``"new"``: what the index and catalogue hold, checked lesson by lesson."""
    sides = set()
    for lesson in set(old) | set(new):
        live = (state["versions"].get(lesson), state["chunks"].get(lesson, []))
        in_old = old.get(lesson, (None, []))
        in_new = new.get(lesson, (None, []))
        assert live in (in_old, in_new), f"lesson {lesson} is a mix of versions: {live[0]}"
        if in_old != in_new:
            sides.add("old" if live == in_old else "new")
    assert len(sides) == 1, f"some lessons old, some new: {sides}"
    return sides.pop()


async def test_sigkill_mid_ingestion_leaves_each_lesson_wholly_old_or_new(tmp_path):
    """Four runs in a row, each starting from what the killed one before it left behind.

    1. the second edition, killed after its first batch of new records reached the index;
    2. the second edition again, killed after the catalogue switched (old records not yet deleted);
    3. the first edition again, killed at a random moment (start-up, embedding, writing, committing);
    4. the first edition, to the end: every lesson first edition, no record left over.
    Each run prints the state it starts from, so each crash is checked by the next run.
    """
    v1, v2 = _editions(tmp_path)
    old, new = _expected(v1), _expected(v2)
    changed = [c for lesson, (v, c) in new.items() if old.get(lesson, (None,))[0] != v]
    assert sum(map(len, changed)) > 256, "the new edition takes several index batches"
    data = tmp_path / "data"
    await learnbot(data, "ingest", str(v1))

    run = ("ingest-and-inspect", str(v2), COURSE)
    await killed_at(data, "ingest-batch:1", *run)
    lines = await killed_at(data, "ingest-commit:1", *run)
    state = json.loads(lines[0])
    assert _which(state, old, new) == "old", "killed mid-batch: the catalogue still names the old edition"
    assert state["hits"] and set(state["hits"]) <= set(old)

    process = await _start(data, "ingest-and-inspect", str(v1), COURSE)
    assert process.stdout is not None
    state = json.loads(await asyncio.wait_for(process.stdout.readline(), timeout=300))
    await asyncio.sleep(random.uniform(0.0, 1.0))
    with contextlib.suppress(ProcessLookupError):  # it may have finished first
        os.kill(process.pid, signal.SIGKILL)
    await process.wait()
    RUNS.append("random kill" if process.returncode == -signal.SIGKILL else "random kill came too late")
    assert _which(state, old, new) == "new", "killed after the commit: the new edition is live"
    assert state["stale"] > 0 and set(state["hits"]) <= set(new), "old records linger but are never read"

    printed = (await learnbot(data, "ingest-and-inspect", str(v1), COURSE)).splitlines()
    before, after = (json.loads(line) for line in printed if line.startswith("{"))
    RUNS[-1] += f": the {_which(before, old, new)} edition"
    assert _which(after, old, new) == "old"
    assert after["stale"] == 0 and after["records"] == sum(len(c) for _, c in old.values())


# -- pushes ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def due_quizzes(tmp_path_factory) -> Path:
    """A data dir where five Telegram learners each have one review due at MONDAY + 10 minutes."""
    data = tmp_path_factory.mktemp("crash-push") / "template"
    testbot = TestBot.build(data)
    testbot.ingest(SAMPLES / "security-basics")
    for user in LEARNERS:
        learner = TestBot(testbot.app, user=user).at(MONDAY)
        for text in ("/enroll security-basics", "/lesson"):
            learner.say(text, platform="telegram", chat=user)
        quiz = learner.say("/quiz", platform="telegram", chat=user)
        learner.press(quiz.buttons[0][0].data, platform="telegram", chat=user)
    testbot.app.store.close()
    _HELD_LOCKS.pop(testbot.app.settings.chroma_path.resolve()).close()  # let the subprocesses open it
    return data


def _sent(server: FakeTelegram) -> Counter[str]:
    return Counter(str(c.params["chat_id"]) for c in server.calls_to("sendMessage"))


async def test_sigkill_mid_push_run_loses_no_push_and_sends_none_twice(due_quizzes, tmp_path):
    """Five runs of the due-quiz job in a row over five due pushes, four of them killed:

    1. after recording the pushes as pending, before sending any: nothing sent;
    2. after claiming the second push, before sending it (the first went out): it waits for its claim
       to go stale (10 minutes), then goes once;
    3. after sending and marking the third: sent once;
    4. after Telegram accepted the fourth, before it was marked sent: the one window left, documented
       as at-least-once; after 10 minutes that push goes out again;
    5. to the end, eleven minutes later: the second, the fourth (again) and the fifth.
    """
    data = tmp_path / "data"
    shutil.copytree(due_quizzes, data)
    async with FakeTelegram() as server:
        platform = {"TELEGRAM_BOT_TOKEN": TOKEN, "LEARNBOT_TELEGRAM_API_URL": server.root}

        def at(minutes: int) -> tuple[str, ...]:
            return ("jobs", "run", "quizzes", "--now", (MONDAY + timedelta(minutes=minutes)).isoformat())

        await killed_at(data, "push-recorded:1", *at(15), **platform)
        assert not _sent(server)
        await killed_at(data, "push-claimed:2", *at(16), **platform)
        assert _sent(server) == Counter(LEARNERS[:1])
        await killed_at(data, "push-sent:1", *at(17), **platform)
        assert _sent(server) == Counter([LEARNERS[0], LEARNERS[2]])
        await killed_at(data, "push-delivered:1", *at(18), **platform)
        assert _sent(server) == Counter([LEARNERS[0], LEARNERS[2], LEARNERS[3]])
        await learnbot(data, *at(29), **platform)
    sent = _sent(server)
    assert set(sent) == set(LEARNERS), "no push lost"
    assert {chat: n for chat, n in sent.items() if n > 1} == {LEARNERS[3]: 2}, "only the in-flight push twice"


def test_report_crash_runs() -> None:
    """Not a check: prints what was killed where (run with -s)."""
    print("\ncrash runs:", len(RUNS), RUNS)
