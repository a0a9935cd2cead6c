"""``python -m eval pushes``: how long the due-quiz job takes to choose its pushes for many learners.

Builds a database of simulated learners (review cards, settings, chats, earlier pushes), then times,
in the same run, one ``plan_quiz_pushes`` (the selection step of ``push_due_quizzes``: due cards,
pause, active hours in each learner's zone, the daily cap, the chat to send to) against a plain
indexed ``count(*)`` of due cards, and reports the database size.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fsrs import Card

from bot.chat.learning import LearningChat
from bot.jobs.learning import QUIZ_PUSH, plan_quiz_pushes
from bot.jobs.pushes import JobDeps, deliver_pending, record
from bot.learning import LearningLoop
from bot.store import Store, iso
from bot.testing import FakeAdapter
from eval.common import chunks, console, write_report

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo"]
ZONES += ["Asia/Shanghai", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo"]
CARDS_PER_LEARNER = 5
ITEMS = 30


def _course(store: Store) -> list[str]:
    lessons = [
        {
            "lesson_id": f"l{n}",
            "title": f"Lesson {n}",
            "position": n,
            "module": "",
            "minutes": 10,
            "version": "v1",
            "chunk_count": 1,
            "quiz": [
                {"question": f"Question {n}.{q}?", "options": ["a", "b", "c"], "answer": 0}
                for q in range(ITEMS // 6)
            ],
        }
        for n in range(6)
    ]
    course = {
        "course_id": "bench",
        "title": "Bench",
        "language": "en",
        "track": "",
        "premium": 0,
        "description": "",
        "desired_retention": 0.9,
        "source": "",
        "lesson_count": 6,
        "chunk_count": 6,
        "ingested_at": iso(NOW),
    }
    store.commit_course(course, lessons)
    return [item.item_id for item in store.quiz_items("bench")]


def populate(store: Store, learners: int, seed: int = 7) -> None:
    """Learners with cards (about a third have something due), zones, some paused, chats, old pushes."""
    rng = random.Random(seed)
    items = _course(store)
    at = iso(NOW - timedelta(days=30))
    template = Card(due=NOW).to_dict()
    with store.transaction():
        for batch in chunks(list(range(1, learners + 1)), 5000):
            store.db["learners"].insert_all(
                {"id": n, "display_name": f"l{n}", "language": "", "created_at": at} for n in batch
            )
            store.db["enrollments"].insert_all(
                {"learner_id": n, "course_id": "bench", "enrolled_at": at} for n in batch
            )
            store.db["learner_settings"].insert_all(
                {
                    "learner_id": n,
                    "timezone": rng.choice(ZONES),
                    "active_start": 8,
                    "active_end": 21,
                    "paused": int(rng.random() < 0.05),
                    "language": "",
                    "updated_at": at,
                }
                for n in batch
            )
            store.db["chats"].insert_all(
                {"learner_id": n, "platform": "telegram", "chat_id": str(n), "direct": 1, "updated_at": at}
                for n in batch
            )
            cards, pushes = [], []
            for n in batch:
                for item in rng.sample(items, CARDS_PER_LEARNER):
                    # Due times from a week ago to a month ahead: about a fifth of the cards are due now.
                    due = iso(NOW + timedelta(minutes=rng.uniform(-7 * 1440, 30 * 1440)))
                    card = {**template, "due": due}
                    cards.append(
                        {"learner_id": n, "item_id": item, "course_id": "bench", "card": card, "due": due}
                    )
                    if due <= iso(NOW) and rng.random() < 0.3:  # pushed before and not answered yet
                        pushes.append(_sent(n, item, due))
            store.db["review_cards"].insert_all(
                {**c, "card": json.dumps(c["card"]), "updated_at": at} for c in cards
            )
            store.db["sent_pushes"].insert_all(pushes)


def _sent(learner: int, item: str, due: str) -> dict:
    day = iso(NOW - timedelta(hours=20))
    return {
        "kind": "quiz",
        "learner_id": learner,
        "item_id": item,
        "due": due,
        "local_day": day[:10],
        "platform": "telegram",
        "chat_id": str(learner),
        "status": "sent",
        "attempts": 0,
        "next_attempt_at": day,
        "last_error": "",
        "created_at": day,
        "sent_at": day,
    }


def _timed(fn, repeat: int) -> tuple[float, object]:  # noqa: ANN001
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(learners: int, out: Path, repeat: int = 3) -> list[tuple[str, str]]:
    """Measure and write ``pushes.md``; returns the (measure, value) rows."""
    work = Path(tempfile.mkdtemp(prefix="learnbot-pushes-"))
    try:
        path = work / "learnbot.db"
        store = Store(path)
        started = time.perf_counter()
        populate(store, learners)
        built = time.perf_counter() - started
        store.db.execute("analyze")
        store.db.execute("pragma wal_checkpoint(truncate)")
        size = path.stat().st_size
        deps = JobDeps(store, LearningChat(store, LearningLoop(store)), {"telegram": FakeAdapter("telegram")})

        count_s, due = _timed(lambda: store.due_card_count(NOW), repeat)
        plan_s, planned = _timed(lambda: plan_quiz_pushes(deps, NOW), repeat)
        cards_s, cards = _timed(lambda: store.due_cards(NOW), 1)
        started = time.perf_counter()
        record(deps, planned, NOW)  # type: ignore[arg-type]
        recorded = time.perf_counter() - started
        started = time.perf_counter()
        sent = asyncio.run(deliver_pending(deps, QUIZ_PUSH, NOW))
        delivered = time.perf_counter() - started
        rows = [
            ("learners / review cards", f"{learners:,} / {learners * CARDS_PER_LEARNER:,}"),
            ("cards due now", f"{due:,}"),
            ("pushes chosen (one per learner, hours open, not paused, under the cap)", f"{len(planned):,}"),
            ("indexed `count(*) where due <= ?`", f"{count_s * 1000:.1f} ms"),
            ("`plan_quiz_pushes` (the job's selection)", f"{plan_s * 1000:.0f} ms"),
            ("ratio selection / count", f"{plan_s / count_s:.1f}x"),
            (
                "`Store.due_cards(now)` (every due card, decoded), for comparison",
                f"{cards_s * 1000:.0f} ms ({len(cards):,} rows)",
            ),
            ("record the chosen pushes (pending rows)", f"{recorded:.2f} s"),
            (
                "deliver them to a fake adapter (claim, build, send, mark)",
                f"{delivered:.2f} s ({sent:,} sent)",
            ),
            ("database size", f"{size / 1e6:.1f} MB (built in {built:.0f} s)"),
        ]
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Due-quiz selection at scale",
        "",
        f"{learners:,} simulated learners, {CARDS_PER_LEARNER} review cards each, 10 time zones, 5% paused,",
        "active hours 8-21; timings are medians of "
        f"{repeat} runs in the same process (`python -m eval pushes`).",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {m} | {v} |" for m, v in rows],
        "",
    ]
    report = write_report(out, "pushes.md", "\n".join(lines))
    for measure, value in rows:
        console.print(f"{measure}: {value}")
    console.print(f"report: {report}")
    return rows
