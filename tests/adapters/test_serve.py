"""`learnbot serve telegram` as run by a user: a subprocess polling a fake Bot API, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.fakes.telegram import TOKEN, FakeTelegram, text_update, user

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(LEARNBOT_DATA_DIR=str(data), LEARNBOT_GENERATOR="extractive", HF_HUB_OFFLINE="1", **extra)
    return env


async def _serve_telegram(data: Path, **env: str) -> asyncio.subprocess.Process:
    """`learnbot serve telegram` as a subprocess on ``data`` with extra environment, stderr captured."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "telegram",
        cwd=ROOT,
        env=_env(data, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_telegram_answers_and_stops_cleanly(tmp_path):
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", str(ROOT / "bot/sample_courses/security-basics")],
        env=_env(data),
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )
    async with FakeTelegram() as fake:
        process = await _serve_telegram(data, TELEGRAM_BOT_TOKEN=TOKEN, LEARNBOT_TELEGRAM_API_URL=fake.root)
        try:
            await fake.wait_for("setMyCommands", timeout=120)
            fake.push(text_update(user(42, "Ada"), "How long must a company password be?"))
            sent = await fake.wait_for("sendMessage", timeout=60)
            assert "14" in sent[0].params["text"] and "Sources" in sent[0].params["text"]
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert TOKEN not in stderr.decode(), "the token never reaches the logs"


def test_serve_without_a_token_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "telegram"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2 and "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "slack"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2 and "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set" in result.stderr


async def test_serve_with_a_rejected_token_prints_one_redacted_line(tmp_path):
    """Issue 14 row 2: Telegram's InvalidToken quotes the token; serve must not print it."""
    wrong = "111:" + "A" * 35
    async with FakeTelegram() as fake:
        process = await _serve_telegram(
            tmp_path, TELEGRAM_BOT_TOKEN=wrong, LEARNBOT_TELEGRAM_API_URL=fake.root
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=180)
    text = stderr.decode()
    assert process.returncode == 2, text
    assert wrong not in text and "AAAAAAAAAA" not in text
    assert "Traceback" not in text and "could not serve" in text


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_an_unreachable_bot_api_retries_then_says_so_in_one_line(tmp_path):
    """Issue 14 row 8: no 148-line traceback; a warning per retry, then one clear line, exit 2."""
    api = f"http://127.0.0.1:{_closed_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "telegram"],
        env=_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, LEARNBOT_TELEGRAM_API_URL=api),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr
    assert [line for line in lines if "try " in line and " of 5" in line], "each retry is announced"
    assert lines[-1].startswith(
        f"error: could not serve: could not reach the Telegram Bot API at {api} after 5 tries"
    )
    assert len(lines) <= 5


async def test_serve_in_json_log_mode_writes_only_json_lines(tmp_path):
    """Issue 14 row 15: the start-up error is a JSON object like every log line (INFO: many lines)."""
    import json

    wrong = "111:" + "B" * 35
    async with FakeTelegram() as fake:
        process = await _serve_telegram(
            tmp_path,
            TELEGRAM_BOT_TOKEN=wrong,
            LEARNBOT_TELEGRAM_API_URL=fake.root,
            LEARNBOT_LOG_FORMAT="json",
            LEARNBOT_LOG_LEVEL="INFO",
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=180)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 2 and lines
    entries = [json.loads(line) for line in lines]  # every line parses
    assert entries[-1]["level"] == "ERROR" and entries[-1]["msg"].startswith("error: could not serve")
    assert "B" * 20 not in stderr.decode()


async def test_sigterm_during_start_up_retries_stops_serve_at_once(tmp_path):
    """Found re-probing row 8: a stop signal during start-up retries went unheard until they ran out."""
    api = f"http://127.0.0.1:{_closed_port()}"
    process = await _serve_telegram(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, LEARNBOT_TELEGRAM_API_URL=api)
    assert process.stderr is not None
    first = b""
    while b"try 1 of 5" not in first:  # the first retry is announced; start-up then waits 1 s
        line = await asyncio.wait_for(process.stderr.readline(), timeout=180)
        assert line, first
        first += line
    process.send_signal(signal.SIGTERM)  # while it waits to try again
    rest = await asyncio.wait_for(process.stderr.read(), timeout=60)
    await process.wait()
    text = (first + rest).decode()
    assert process.returncode == 0, text
    assert "could not serve" not in text and "try 3 of 5" not in text and "Traceback" not in text


def test_a_failed_start_releases_its_connections_and_prints_one_line(tmp_path):
    """Found re-probing: a Slack port in use left "Unclosed client session" errors after the line."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve", "slack"],
            env=_env(
                tmp_path,
                SLACK_BOT_TOKEN="xoxb-1111-2222-abcdefghijkl",
                SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5",
                LEARNBOT_SLACK_PORT=str(busy.getsockname()[1]),
            ),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=180,
        )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: could not serve: OSError") and "address already in use" in line
