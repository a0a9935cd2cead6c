"""``python -m eval load --replicas 1,2``: the same load on 1 and 2 `learnbot serve slack` processes.

Each configuration is real processes as deployed: ``learnbot serve slack`` (Events API over HTTP,
extractive back end) answering signed events, its Web API calls going to a local fake Slack. The
state is PostgreSQL (a throwaway database per configuration) and the vectors a ``chroma run``
server; for comparison, one process on the embedded default (SQLite and Chroma in the data dir).
Events go round-robin to the replicas (what a load balancer does); latency runs from the POST to
the ``chat.update`` that puts the answer in place of the placeholder. A duplicate is a second
answer to one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np

from adapters.fakes.slack import BOT_TOKEN, FakeSlack
from adapters.fakes.slack_requests import SIGNING_SECRET, dm, event_request

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "bot" / "sample_courses" / "security-basics"
QUESTIONS = [
    "How long must a company password be?",
    "What is phishing?",
    "How do I report a suspicious email?",
    "Should I reuse passwords?",
]


def free_port() -> int:
    """A TCP port free on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


@contextlib.contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """``chroma run`` on a free port; its URL."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    args = [str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database for one configuration, dropped afterwards; its URL."""
    import psycopg

    name = f"learnbot_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNBOT_", "SLACK_", "TELEGRAM_"))}
    env.update(
        LEARNBOT_DATA_DIR=str(data),
        LEARNBOT_GENERATOR="extractive",
        LEARNBOT_QUESTIONS_PER_MINUTE="1000000",
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


async def _fire(fake: FakeSlack, ports: list[int], learners: int, per_learner: int) -> dict[str, float]:
    """Every learner's questions at once, round-robin over the replicas; latency to the answer."""
    sent: dict[str, list[float]] = {}
    answered: dict[str, list[float]] = {}
    expected = learners * per_learner
    seen = 0
    errors = 0

    async def watch() -> None:
        nonlocal seen
        while True:
            calls = fake.calls
            for call in calls[seen:]:
                if call.method == "chat.update":  # the answer replacing the "looking it up" placeholder
                    answered.setdefault(call.params.get("channel", ""), []).append(time.monotonic())
            seen = len(calls)
            await asyncio.sleep(0.005)

    async def post(session: aiohttp.ClientSession, n: int, k: int) -> None:
        nonlocal errors
        channel = f"DLOAD{n:05d}"
        request = event_request(dm(f"ULOAD{n:05d}", QUESTIONS[(n + k) % len(QUESTIONS)], channel=channel))
        sent.setdefault(channel, []).append(time.monotonic())
        port = ports[(n * per_learner + k) % len(ports)]
        try:
            async with session.post(
                f"http://127.0.0.1:{port}/slack/events", data=request.body, headers=request.headers
            ) as response:
                errors += response.status != 200
        except aiohttp.ClientError:
            errors += 1

    watcher = asyncio.ensure_future(watch())
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(post(session, n, k) for k in range(per_learner) for n in range(learners)))
    deadline = time.monotonic() + 600
    while sum(len(v) for v in answered.values()) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # a duplicate answer would come now
    watcher.cancel()
    latencies = [
        (reply - push) * 1000
        for channel, pushes in sent.items()
        for push, reply in zip(sorted(pushes), answered.get(channel, []), strict=False)
    ]
    finished = max((t for times in answered.values() for t in times), default=started)
    duplicates = sum(max(0, len(answered.get(c, [])) - len(p)) for c, p in sent.items())
    missing = sum(max(0, len(p) - len(answered.get(c, []))) for c, p in sent.items())
    return {
        "messages": float(expected),
        "errors": float(errors + missing),
        "duplicates": float(duplicates),
        "messages_per_s": len(latencies) / (finished - started) if finished > started else 0.0,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "p95_ms": float(np.percentile(latencies, 95)) if latencies else float("nan"),
    }


async def _configuration(work: Path, replicas: int, env: dict[str, str], learners: int, per_learner: int):
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", str(COURSE)],
        env=_env(work / "admin", **env),
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    ports = [free_port() for _ in range(replicas)]
    async with FakeSlack() as fake:
        processes = []
        for n, port in enumerate(ports):
            data = work / "admin" if "LEARNBOT_CHROMA_URL" not in env else work / f"replica{n}"
            serve_env = _env(
                data,
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                LEARNBOT_SLACK_API_URL=fake.api_url,
                LEARNBOT_SLACK_PORT=str(port),
                **env,
            )
            args = [sys.executable, "-m", "bot.cli", "serve", "slack"]
            processes.append(subprocess.Popen(args, env=serve_env, cwd=ROOT, stderr=subprocess.DEVNULL))
        try:
            for port, process in zip(ports, processes, strict=True):
                await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{port}/healthz", process)
            await _fire(fake, ports, 2, 1)  # warm up: models, keyword index, connections
            fake.calls.clear()
            return await _fire(fake, ports, learners, per_learner)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)


def run_replicas(
    work: Path, sizes: list[int], replicas: list[int], admin_url: str, per_learner: int = 2
) -> list[tuple[str, int, dict[str, float]]]:
    """The load on SQLite (1 process) and on PostgreSQL with each number of replicas."""
    rows: list[tuple[str, int, dict[str, float]]] = []
    for learners in sizes:
        folder = work / f"sqlite-{learners}"
        result = asyncio.run(_configuration(folder, 1, {}, learners, per_learner))
        rows.append(("sqlite, embedded Chroma", 1, {**result, "learners": float(learners)}))
        for count in replicas:
            folder = work / f"pg-{count}-{learners}"
            with throwaway_database(admin_url) as url, chroma_server(folder / "chroma-server") as chroma:
                env = {"LEARNBOT_DATABASE_URL": url, "LEARNBOT_CHROMA_URL": chroma}
                result = asyncio.run(_configuration(folder, count, env, learners, per_learner))
            rows.append(("postgresql, chroma run", count, {**result, "learners": float(learners)}))
    return rows


def report(rows: list[tuple[str, int, dict[str, float]]], per_learner: int) -> str:
    """The Markdown table of a replicas run."""
    lines = [
        "# Load: replicas",
        "",
        f"`learnbot serve slack` processes (HTTP events, extractive back end); each learner sends "
        f"{per_learner} questions at once, round-robin over the processes.",
        "",
        "| learners | state | processes | messages | errors | duplicates | messages/s | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for state, count, r in rows:
        lines.append(
            f"| {r['learners']:.0f} | {state} | {count} | {r['messages']:.0f} | {r['errors']:.0f} | "
            f"{r['duplicates']:.0f} | {r['messages_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} |"
        )
    return "\n".join(lines) + "\n"
