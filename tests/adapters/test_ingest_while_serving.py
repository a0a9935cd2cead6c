"""Admins load courses while the bot serves, on the embedded default: `learnbot ingest` beside `serve`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from adapters.fakes.telegram import TOKEN, FakeTelegram, text_update, user
from tests.adapters.test_serve import ROOT, _env, _serve_telegram

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUESTION = "How long must a company password be?"


def _cli(data, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=_env(data),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


async def test_ingest_remove_and_reindex_go_through_the_running_serve(tmp_path):
    data = tmp_path / "data"
    async with FakeTelegram() as fake:
        process = await _serve_telegram(data, TELEGRAM_BOT_TOKEN=TOKEN, LEARNBOT_TELEGRAM_API_URL=fake.root)
        try:
            await fake.wait_for("setMyCommands", timeout=180)
            assert (data / "ingest.sock").exists()

            loaded = await asyncio.to_thread(
                _cli, data, "ingest", str(ROOT / "bot/sample_courses/security-basics")
            )
            assert loaded.returncode == 0, loaded.stderr
            assert "by the running serve" in loaded.stdout and "security-basics" in loaded.stdout

            fake.push(text_update(user(42, "Ada"), QUESTION))
            [answer] = await fake.wait_for("sendMessage", timeout=120)
            assert "14" in answer.params["text"] and "Sources" in answer.params["text"], "no restart needed"

            courses = await asyncio.to_thread(_cli, data, "courses")
            assert "security-basics" in courses.stdout  # reads go straight to the store

            removed = await asyncio.to_thread(_cli, data, "remove", "security-basics")
            assert removed.returncode == 0 and "by the running serve" in removed.stdout, removed.stderr
            missing = await asyncio.to_thread(_cli, data, "remove", "security-basics")
            assert missing.returncode == 2 and "no course" in missing.stderr
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert not (data / "ingest.sock").exists(), "serve removes its socket"
