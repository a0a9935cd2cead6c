"""Chroma as a server: ``chroma run`` on 127.0.0.1, Learnbot pointed at it with ``LEARNBOT_CHROMA_URL``."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.messages import IncomingMessage
from knowledge.loaders import load_course

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
CHROMA = Path(sys.executable).parent / "chroma"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMA.is_file(), reason=f"the chroma CLI is not at {CHROMA}"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A Chroma server process on a free port with its own folder; stopped by its pid afterwards."""
    port = free_port()
    log = (tmp_path / "chroma.log").open("wb")
    process = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to ~60 s for the server to answer its heartbeat
            if process.poll() is not None:
                pytest.fail(
                    f"chroma run exited with {process.returncode}: {(tmp_path / 'chroma.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma run did not answer its heartbeat")
        yield url, tmp_path / "server"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def app_at(data_dir: Path, url: str, embedder) -> App:
    settings = Settings.load(env={"LEARNBOT_CHROMA_URL": url}, data_dir=data_dir, generator="extractive")
    return App(settings, embedder=embedder)


def test_ingests_into_the_server_and_answers_from_it(chroma_server, tmp_path: Path, use_embedder):
    url, server_path = chroma_server
    app = app_at(tmp_path / "data", url, use_embedder)
    report = app.ingestor.ingest(load_course(SAMPLES / "security-basics"))
    assert report.chunks > 0 and app.index.count() == report.chunks
    assert not (tmp_path / "data" / "chroma").exists() and any(
        server_path.iterdir()
    )  # vectors live on the server

    message = IncomingMessage("console", "u1", "c1", "What should I do with a suspicious phishing email?")
    [reply, *_] = asyncio.run(app.bot.handle(message))
    assert "phishing" in reply.text.lower() and "[1]" in reply.text

    # A second installation sharing the server (another process in production) sees the same vectors.
    other = app_at(tmp_path / "other", url, use_embedder)
    hits = other.index.query(use_embedder.embed_query("phishing email sender"), 3, None)
    assert hits and all(record.chunk.course_id == "security-basics" for record, _ in hits)
