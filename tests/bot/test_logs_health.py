"""Logs without secrets or learners' words, JSON logs, Prometheus metrics, /healthz on the HTTP servers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY

from adapters.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, dm, event_request, post
from adapters.fakes.telegram import TOKEN, FakeTelegram, text_update, user
from adapters.slack import SlackAdapter
from adapters.telegram import TelegramAdapter
from bot import logs
from bot.health import Health, database_check
from bot.jobs.learning import push_due_quizzes
from bot.logs import REDACTED, announce, redact, setup_logging
from bot.messages import IncomingMessage, Reply
from bot.testing import FakeAdapter, TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRETS = {
    "TELEGRAM_BOT_TOKEN": "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefghijkl",
    "OPENAI_API_KEY": "sk-proj-abcdefghijklmnop1234",
}


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = TestBot.build(tmp_path_factory.mktemp("logs") / "data")
    bot.ingest(SAMPLES / "security-basics")
    return bot


@pytest.fixture
def logged(monkeypatch) -> Iterator[tuple[io.StringIO, dict]]:
    """Learnbot's root handler writing into a buffer; the root logger is restored afterwards."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    level, buffer, options = root.level, io.StringIO(), {}

    def install(**kwargs) -> None:
        options["handler"] = setup_logging(stream=buffer, **{"level": "INFO", **kwargs})

    options["install"] = install
    hooks = sys.excepthook, threading.excepthook
    yield buffer, options
    if "handler" in options:
        root.removeHandler(options["handler"])
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)
    logs._state.update(message_text=False, fmt="text", handler=None)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_secrets_tokens_and_payment_payloads_never_reach_a_log_line(logged):
    buffer, options = logged
    options["install"]()
    log = logging.getLogger("adapters.telegram")
    log.info("POST https://api.telegram.org/bot%s/sendMessage", SECRETS["TELEGRAM_BOT_TOKEN"])
    log.warning("signing secret was %s", SECRETS["SLACK_SIGNING_SECRET"])
    logging.getLogger("httpx").info("Authorization: Bearer %s", SECRETS["SLACK_BOT_TOKEN"])
    logging.getLogger("openai").info("key=%s", SECRETS["OPENAI_API_KEY"])
    logging.getLogger("telegram.ext").info(
        "update {'invoice_payload': 'learner:12:pro:3', 'telegram_payment_charge_id': 'stxAbC123'}"
    )
    logging.getLogger("x").info(
        "an unknown bot's token 5555555:AAAAbbbbCCCCddddEEEEffffGGGG and xapp-1-A0B1-99"
    )
    try:
        raise RuntimeError(f"connect failed for token {SECRETS['TELEGRAM_BOT_TOKEN']}")
    except RuntimeError:
        logging.getLogger("bot.core").exception("handler failed for learner %s", 7)
    text = buffer.getvalue()
    for secret in [*SECRETS.values(), "learner:12:pro:3", "stxAbC123", "AAAAbbbbCCCC", "xapp-1-A0B1"]:
        assert secret not in text
    assert text.count(REDACTED) >= 9 and "learner 7" in text and "RuntimeError" in text
    assert redact("nothing secret here, 12:30 on 2026-03-02") == "nothing secret here, 12:30 on 2026-03-02"


def test_json_format_is_one_object_a_line(logged):
    buffer, options = logged
    options["install"](fmt="json")
    logging.getLogger("bot.jobs").info("quiz push %s sent to learner %s", 3, 12)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logging.getLogger("bot.core").exception("failed")
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    assert lines[0]["msg"] == "quiz push 3 sent to learner 12" and lines[0]["level"] == "INFO"
    assert lines[0]["logger"] == "bot.jobs" and lines[0]["ts"].endswith("+00:00")
    assert "ZeroDivisionError" in lines[1]["exc"]
    with pytest.raises(ValueError, match="text or json"):
        setup_logging(fmt="xml")


@pytest.mark.parametrize("message_text", [False, True])
def test_message_text_is_logged_only_when_the_debug_setting_is_on(logged, testbot, message_text):
    buffer, options = logged
    options["install"](message_text=message_text)
    question = "How long must a company password be? (marker-2718)"
    before = sample("learnbot_messages_total", platform="logtest")
    asyncio.run(testbot.app.bot.handle(IncomingMessage("logtest", "u-77", "u-77", question)))
    text = buffer.getvalue()
    learner = testbot.app.store.resolve_learner("logtest:u-77")
    assert f"message on logtest from learner {learner}" in text
    assert ("marker-2718" in text) is message_text
    if not message_text:
        assert f"text ({len(question)} chars)" in text
    assert sample("learnbot_messages_total", platform="logtest") == before + 1


def test_answer_latency_refusals_and_pushes_are_counted(testbot):
    bot = testbot.app.bot
    answered = sample("learnbot_answer_seconds_count")
    refused = sample("learnbot_refusals_total")
    reply = asyncio.run(
        bot.handle(IncomingMessage("metrics", "m-1", "m-1", "What is the best sourdough recipe?"))
    )
    assert reply[0].grounded is False
    asyncio.run(bot.handle(IncomingMessage("metrics", "m-1", "m-1", "How long must a company password be?")))
    assert sample("learnbot_answer_seconds_count") == answered + 2
    assert sample("learnbot_refusals_total") == refused + 1

    pusher = TestBot(testbot.app, user="m-2").at(MONDAY)
    pusher.say("/enroll security-basics", platform="test")
    pusher.say("/lesson", platform="test")
    quiz = pusher.say("/quiz", platform="test")
    pusher.press(quiz.buttons[0][0].data, platform="test")  # right: due again in 10 minutes
    sent = sample("learnbot_pushes_sent_total", kind="quiz")
    adapter = FakeAdapter("test")
    assert asyncio.run(
        push_due_quizzes(testbot.app.job_deps({"test": adapter}), MONDAY + timedelta(minutes=15))
    )
    assert sample("learnbot_pushes_sent_total", kind="quiz") == sent + len(adapter.sent) > sent


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_healthz_is_ready_when_the_database_and_index_answer(testbot, tmp_path):
    health = testbot.app.health
    runner = await health.serve("127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        status, body = await get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert json.loads(body)["checks"]["index"].startswith("ok: ")
        status, metrics = await get(f"http://127.0.0.1:{port}/metrics")
        assert (
            status == 200
            and "learnbot_messages_total" in metrics
            and "learnbot_answer_seconds_bucket" in metrics
        )
    finally:
        await runner.cleanup()

    def broken() -> str:
        raise ConnectionError("index server down")

    sick = Health({"database": testbot.app.health.checks["database"], "index": broken})
    code, body = await sick.body()
    assert code == 503 and "index server down" in json.loads(body)["checks"]["index"]
    slow = Health({"index": lambda: time.sleep(1) or "late"}, timeout=0.1)
    assert (await slow.body())[0] == 503
    assert (await Health({"database": database_check(tmp_path / "missing.db")}).body())[0] == 503


async def test_slack_events_server_serves_healthz_and_metrics(testbot):
    async with FakeSlack() as slack:
        adapter = SlackAdapter(
            testbot.app.bot,
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
            api_url=slack.api_url,
            port=0,
            health=testbot.app.health,
        )
        await adapter.start()
        try:
            status, body = await get(f"http://127.0.0.1:{adapter.port}/healthz")
            assert status == 200 and json.loads(body)["status"] == "ok"
            status, metrics = await get(f"http://127.0.0.1:{adapter.port}/metrics")
            assert status == 200 and "learnbot_pushes_sent_total" in metrics
            await adapter.send("D0LEARNER", Reply("your data", document=_document()))
            assert list(slack.uploads.values()) == [b'{"a": 1}']
        finally:
            await adapter.stop()


def _document():
    from bot.messages import Document

    return Document("my-data.json", b'{"a": 1}', "application/json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_telegram_webhook_server_serves_healthz_and_sends_documents(testbot):
    async with FakeTelegram() as server:
        port = free_port()
        adapter = TelegramAdapter(
            testbot.app.bot,
            token=TOKEN,
            api_url=server.root,
            webhook_url=f"http://127.0.0.1:{port}/telegram/updates",
            webhook_secret="s3cret_token",
            webhook_port=port,
            rate_limit=False,
            health=testbot.app.health,
        )
        await adapter.start()
        try:
            status, body = await get(f"http://127.0.0.1:{port}/healthz")
            assert status == 200 and json.loads(body)["checks"]["database"].startswith("ok")
            status, metrics = await get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200 and "learnbot_refusals_total" in metrics
            await adapter.send("42", Reply("Here is your data", document=_document()))
            [sent] = await server.wait_for("sendDocument")
            assert list(sent.files.values()) == [b'{"a": 1}']
        finally:
            await adapter.stop()


# -- issue 14 rows 3 and 15: third-party bodies at DEBUG, every line JSON in JSON mode ------------


@pytest.mark.integration
@pytest.mark.parametrize("message_text", [False, True])
async def test_telegram_at_debug_logs_no_update_bodies_unless_the_text_flag_is_on(
    logged, testbot, message_text
):
    """Row 3: python-telegram-bot at DEBUG logs whole updates (text, names); capped unless the flag is on."""
    buffer, options = logged
    options["install"](level="DEBUG", message_text=message_text)
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(testbot.app.bot, token=TOKEN, api_url=fake.root, poll_timeout=1)
        await adapter.start()
        try:
            fake.push(text_update(user(4242, "Zephyrine"), "/ask what is marker-9931 about?"))
            await fake.wait_for("sendMessage")
        finally:
            await adapter.stop()
    text = buffer.getvalue()
    assert ("marker-9931" in text) is message_text and ("Zephyrine" in text) is message_text
    assert "httpx" in text, "request lines (URLs, no bodies) are still logged"
    assert TOKEN not in text


@pytest.mark.integration
@pytest.mark.parametrize("message_text", [False, True])
async def test_slack_at_debug_logs_no_request_bodies_unless_the_text_flag_is_on(
    logged, testbot, message_text
):
    """Row 3: slack_bolt logs the body of a request that fails the signature check (at INFO)."""
    buffer, options = logged
    options["install"](level="DEBUG", message_text=message_text)
    async with FakeSlack() as fake:
        adapter = SlackAdapter(
            testbot.app.bot, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=fake.api_url, port=0
        )
        await adapter.start()
        try:
            forged = event_request(dm("U0MAL", "my salary is marker-5151"), secret="not-the-secret")
            status, _, _ = await post(adapter.url, forged)
            await post(adapter.url, event_request(dm("U0ADA", "marker-6262: what is phishing?")))
            await fake.wait_for("chat.update")  # the answer went out through slack_sdk
        finally:
            await adapter.stop()
    assert status == 401
    text = buffer.getvalue()
    assert ("marker-5151" in text) is message_text and ("marker-6262" in text) is message_text


def test_json_mode_writes_warnings_announcements_and_uncaught_errors_as_json(logged, capsys):
    """Row 15: library warnings, the `serving ...` line and uncaught tracebacks are JSON objects too."""
    buffer, options = logged
    options["install"](fmt="json")
    warnings.warn("a PDF with a broken xref table", UserWarning, stacklevel=1)
    announce("serving TelegramAdapter; Ctrl-C to stop")
    try:
        raise RuntimeError(f"connect failed for {SECRETS['TELEGRAM_BOT_TOKEN']}")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [e["logger"] for e in entries] == ["py.warnings", "learnbot"]
    assert "broken xref" in entries[0]["msg"] and entries[1]["msg"].startswith("serving")
    [crash] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert crash["level"] == "CRITICAL" and "RuntimeError" in crash["exc"]
    assert SECRETS["TELEGRAM_BOT_TOKEN"] not in json.dumps(crash)


def test_a_password_in_a_url_is_redacted_and_json_mode_turns_progress_bars_off(logged, monkeypatch):
    """Found re-probing row 8: the unreachable-API line quoted LEARNBOT_TELEGRAM_API_URL's password;
    in JSON mode, model-loading progress bars were plain lines."""
    url = "http://admin:hunter2pass@127.0.0.1:8081"
    assert redact(f"could not reach {url}") == "could not reach http://admin:[redacted]@127.0.0.1:8081"
    assert (
        redact("postgresql://learnbot:s3cret@db/learnbot") == "postgresql://learnbot:[redacted]@db/learnbot"
    )
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    buffer, options = logged
    options["install"](fmt="json")
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    # tqdm reads TQDM_* when it is first imported (an earlier test may have imported it here), as the
    # model libraries of a fresh `learnbot serve` do after logging is installed
    probe = "import sys, tqdm; print(tqdm.tqdm(range(3), file=sys.stderr).disable)"
    fresh = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == "True"
