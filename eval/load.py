"""``python -m eval load``: many learners asking at once, through the real Telegram stack and the console.

The Telegram path is the real python-telegram-bot ``Application`` polling a local fake Bot API (its
flood-limit rate limiter off, since the fake has no flood limits); the console path calls the same
core directly. Both use the same app (real embedder and index, extractive back end) in the same run,
so their ratio is the adapter's overhead.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from adapters.fakes.telegram import TOKEN, FakeTelegram, text_update, user
from adapters.telegram import TelegramAdapter
from bot.app import App
from bot.messages import IncomingMessage
from eval.common import IOT, app_with_courses, console, read_questions, write_report


async def telegram_path(app: App, questions: list[str], learners: int, per_learner: int) -> dict[str, float]:
    """Push every learner's questions as updates; latency: push -> the bot's ``sendMessage`` to that chat."""
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(app.bot, token=TOKEN, api_url=fake.root, rate_limit=False, poll_timeout=1.0)
        await adapter.start()
        try:
            pushed: dict[int, list[float]] = {}
            # Update ids only grow, as Telegram's do: the core answers each delivery once, also across runs.
            ids = itertools.count(int(time.time() * 1000))
            cycle = itertools.cycle(questions)
            started = time.monotonic()
            for _ in range(per_learner):
                for n in range(learners):
                    chat = 10_000 + n
                    fake.push(text_update(user(chat, f"L{n}"), next(cycle), update_id=next(ids)))
                    pushed.setdefault(chat, []).append(time.monotonic())
                await asyncio.sleep(0)
            total = learners * per_learner
            try:
                await fake.wait_for("sendMessage", count=total, timeout=600)
            except AssertionError:
                pass
            replies: dict[int, list[float]] = {}
            for call in fake.calls_to("sendMessage"):
                replies.setdefault(int(call.params["chat_id"]), []).append(call.at)
        finally:
            await adapter.stop()
    latencies = [
        (reply - push) * 1000
        for chat, pushes in pushed.items()
        for push, reply in zip(pushes, replies.get(chat, []), strict=False)
    ]
    finished = max((t for times in replies.values() for t in times), default=started)
    return _summary(latencies, total, finished - started)


async def console_path(app: App, questions: list[str], learners: int, per_learner: int) -> dict[str, float]:
    """The same load straight into ``Router.handle`` (no platform in between)."""
    cycle = itertools.cycle(questions)
    latencies: list[float] = []
    errors = 0

    async def learner(n: int, asked: list[str]) -> None:
        nonlocal errors
        for text in asked:
            began = time.monotonic()
            replies = await app.bot.handle(IncomingMessage("console", f"load-{n}", f"load-{n}", text))
            latencies.append((time.monotonic() - began) * 1000)
            errors += not replies or "went wrong" in replies[0].text

    plan = [[next(cycle) for _ in range(per_learner)] for _ in range(learners)]
    started = time.monotonic()
    await asyncio.gather(*(learner(n, asked) for n, asked in enumerate(plan)))
    result = _summary(latencies, learners * per_learner, time.monotonic() - started)
    result["errors"] = float(errors)
    return result


def _summary(latencies: list[float], expected: int, seconds: float) -> dict[str, float]:
    return {
        "messages": float(expected),
        "answered": float(len(latencies)),
        "errors": float(expected - len(latencies)),
        "messages_per_s": len(latencies) / seconds if seconds > 0 else 0.0,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "p95_ms": float(np.percentile(latencies, 95)) if latencies else float("nan"),
    }


def run(corpus: Path, out: Path, work: Path, sizes: list[int], per_learner: int = 2) -> list[tuple]:
    """Run both paths for each number of learners and write ``load.md``."""
    app = app_with_courses(
        work,
        "use",
        {"iot-en": corpus / "lessons" / "en"},
        generator="extractive",
        questions_per_minute=1_000_000,
    )
    questions = [q.question for q in read_questions(corpus / "quizzes.en.jsonl")]
    app.answers.answer(questions[0])  # load models and the keyword index outside the measurement
    rows = []
    for learners in sizes:
        tg = asyncio.run(telegram_path(app, questions, learners, per_learner))
        co = asyncio.run(console_path(app, questions, learners, per_learner))
        rows.append((learners, tg, co))
    _report(out, rows, per_learner)
    return rows


def _report(out: Path, rows: list[tuple], per_learner: int) -> None:
    table = Table(
        "learners",
        "path",
        "messages",
        "errors",
        "msg/s",
        "p50 ms",
        "p95 ms",
        "telegram / console p50",
        title=f"Load: each learner asks {per_learner} questions at once (extractive back end)",
    )
    lines = [
        "# Load",
        "",
        f"Each simulated learner sends {per_learner} questions at once; extractive back end.",
        "",
        "| learners | path | messages | errors | messages/s | p50 ms | p95 ms | overhead (p50 ratio) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for learners, tg, co in rows:
        ratio = tg["p50_ms"] / co["p50_ms"] if co["p50_ms"] else float("nan")
        for name, r, extra in (("telegram", tg, f"{ratio:.2f}"), ("console", co, "")):
            cells = [
                str(learners),
                name,
                f"{r['messages']:.0f}",
                f"{r['errors']:.0f}",
                f"{r['messages_per_s']:.1f}",
                f"{r['p50_ms']:.0f}",
                f"{r['p95_ms']:.0f}",
                extra,
            ]
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    console.print(f"report: {write_report(out, 'load.md', chr(10).join(lines) + chr(10))}")


def default_corpus() -> Path:
    """The IoT corpus."""
    return IOT
