"""Two `learnbot serve slack` replicas on one PostgreSQL and one Chroma server: each delivery once.

As deployed behind a load balancer: the replicas share the state (``LEARNBOT_DATABASE_URL``) and the
index (``LEARNBOT_CHROMA_URL``); Slack may deliver the same event to either (a retry after a
timeout lands on the other one). Then the due-quiz job runs in two processes at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from adapters.fakes.slack import BOT_TOKEN, FakeSlack
from adapters.fakes.slack_requests import SIGNING_SECRET, dm, event_request
from bot.store import Store
from tests.knowledge.test_chroma_server import CHROMA, chroma_server, free_port  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How long must a company password be?"
BURST = 16
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMA.is_file(), reason=f"the chroma CLI is not at {CHROMA}"),
]


def _env(data: Path, pg: str, chroma: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(
        LEARNBOT_DATA_DIR=str(data),
        LEARNBOT_GENERATOR="extractive",
        LEARNBOT_DATABASE_URL=pg,
        LEARNBOT_CHROMA_URL=chroma,
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


async def _post(session: aiohttp.ClientSession, port: int, event: dict, event_id: str) -> int:
    request = event_request(event, event_id)
    async with session.post(
        f"http://127.0.0.1:{port}/slack/events", data=request.body, headers=request.headers
    ) as response:
        return response.status


async def _ready(port: int, process: asyncio.subprocess.Process, timeout: float = 240) -> None:
    for _ in range(int(timeout * 5)):
        if process.returncode is not None:
            raise AssertionError(f"serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"serve on {port} never answered /healthz")


def _answers(fake: FakeSlack, channel: str, method: str) -> int:
    return sum(1 for c in fake.calls if c.method == method and c.params.get("channel") == channel)


def _seed_due_quizzes(pg: str, learners: list[int]) -> None:
    """Each learner answered a quiz item an hour ago; the card is due now, any hour is active."""
    from fsrs import Card

    store = Store(pg)
    [item, *_] = store.quiz_items()
    past = datetime.now(UTC) - timedelta(hours=1)
    for learner in learners:
        store.enroll(learner, item.course_id, past)
        store.update_learner_settings(learner, timezone="UTC", active_start=0, active_end=24)
        store.record_answer(
            learner_id=learner,
            item=item,
            chosen=item.answer,
            correct=True,
            rating=3,
            card_before=None,
            card=Card().to_dict(),
            due=past,
            at=past - timedelta(minutes=5),
        )
    store.close()


async def test_two_replicas_answer_each_event_once_and_send_each_push_once(
    tmp_path: Path,
    pg_url: str,
    chroma_server: tuple[str, Path],  # noqa: F811 - the fixture imported above
) -> None:
    chroma, _ = chroma_server
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", str(ROOT / "bot/sample_courses/security-basics")],
        env=_env(tmp_path / "admin", pg_url, chroma),
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=600,
    )
    ports = [free_port(), free_port()]
    async with FakeSlack() as fake:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "serve",
                "slack",
                cwd=ROOT,
                env=_env(
                    tmp_path / f"replica{n}",
                    pg_url,
                    chroma,
                    SLACK_BOT_TOKEN=BOT_TOKEN,
                    SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    LEARNBOT_SLACK_API_URL=fake.api_url,
                    LEARNBOT_SLACK_PORT=str(port),
                ),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for n, port in enumerate(ports)
        ]
        try:
            for port, process in zip(ports, processes, strict=True):
                await _ready(port, process)
            async with aiohttp.ClientSession() as session:
                # The same event to both replicas at once (a retry that hit the other one).
                same = dm("U0SAME", QUESTION, channel="D0SAME")
                statuses = await asyncio.gather(*(_post(session, p, same, "EvSAME") for p in ports))
                # A burst of distinct events, split between the replicas.
                burst = [dm(f"U{n:04d}", QUESTION, channel=f"D{n:04d}") for n in range(BURST)]
                statuses += await asyncio.gather(
                    *(_post(session, ports[n % 2], e, f"Ev{n:04d}") for n, e in enumerate(burst))
                )
            assert set(statuses) == {200}
            # Each event: one "looking it up" placeholder, replaced by the answer (chat.update).
            await fake.wait_for("chat.update", count=BURST + 1, timeout=600)
            await asyncio.sleep(2)  # a duplicate answer would arrive about now
            channels = ["D0SAME", *(f"D{n:04d}" for n in range(BURST))]
            counts = {
                ch: (_answers(fake, ch, "chat.postMessage"), _answers(fake, ch, "chat.update"))
                for ch in channels
            }
            assert counts == dict.fromkeys(counts, (1, 1)), counts
            assert all("14" in c.params.get("text", "") for c in fake.calls_to("chat.update"))

            store = Store(pg_url)
            assert store.db["questions_log"].count == BURST + 1, "no lost rows, none doubled"
            for platform in ("slack", "slack-ack"):  # handled once; acknowledged once (no placeholder twice)
                count = "select count(*) from processed_deliveries where platform = ?"
                assert store.db.execute(count, [platform]).fetchone()[0] == BURST + 1
            learners = [store.learner_for("slack", f"U{n:04d}") for n in range(BURST)]
            assert len(set(learners)) == BURST
            store.close()
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                try:
                    await asyncio.wait_for(process.communicate(), timeout=120)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise

        # The due-quiz job in two processes at once, on the same due cards.
        _seed_due_quizzes(pg_url, learners)
        before = len(fake.calls_to("chat.postMessage"))
        env = _env(
            tmp_path / "jobs",
            pg_url,
            chroma,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            LEARNBOT_SLACK_API_URL=fake.api_url,
        )
        runs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "jobs",
                "run",
                "quizzes",
                "--platform",
                "slack",
                cwd=ROOT,
                env={**env, "LEARNBOT_DATA_DIR": str(tmp_path / f"jobs{n}")},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for n in range(2)
        ]
        outputs = [await asyncio.wait_for(run.communicate(), timeout=300) for run in runs]
        for run, (_, stderr) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, stderr.decode()
        sent = [int(stdout.decode().split()[1]) for stdout, _ in outputs]
        assert sum(sent) == BURST, sent
        pushes = fake.calls_to("chat.postMessage")[before:]
        per_channel = [p.params.get("channel") for p in pushes]
        assert sorted(per_channel) == sorted(f"D{n:04d}" for n in range(BURST)), "each push once"
        store = Store(pg_url)
        rows = store.pushes(kind="quiz")
        assert len(rows) == BURST and {r.status for r in rows} == {"sent"}
        store.close()
        answers = sum(update for _, update in counts.values())
        print(json.dumps({"events": BURST + 2, "answers": answers, "pushes": sum(sent)}))
