"""Backup and restore time: the IoT course (real default embedder) plus N learners' synthetic progress.

``python -m eval backup`` (or :func:`run`) ingests the IoT English lessons with the default embedder
into ``eval-out/rights/data`` (once; reused afterwards), fills the database with ``learners`` learners'
synthetic history (once), then times ``learnbot backup`` while a writer keeps logging questions (the
bot keeps serving), and ``learnbot restore`` plus its check (schema, counts, a sample search).

The synthetic history is seeded and documented here: each learner has one Telegram identity,
settings, 1-2 enrollments in the IoT course, 2-20 progress events (started/done in lesson order),
0-12 quiz attempts with one FSRS-shaped review card per item answered, and 0-4 logged questions.
Quiz items are 3 approved synthetic items per lesson (``origin = 'bench'``).
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import App
from bot.backup import backup, check, restore
from bot.config import Settings
from bot.store import Store, quiz_item_id
from eval.common import app_with_courses, console, write_report

COURSE_ID = "iot-en"
SEED = 8


def _synthesise(store: Store, learners: int) -> dict[str, int]:
    """Insert ``learners`` learners' history (skipped when the store has that many already)."""
    have = store.db["learners"].count
    if have >= learners:
        return {"learners": have}
    rng = random.Random(SEED)
    lessons = [row.lesson_id for row in store.lessons(COURSE_ID) if row.lesson_id]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for lesson in lessons:
        for n in range(3):
            question = f"Bench question {n} about {lesson}?"
            items.append(
                {
                    "item_id": quiz_item_id(COURSE_ID, lesson, question),
                    "course_id": COURSE_ID,
                    "lesson_id": lesson,
                    "question": question,
                    "options": json.dumps(["a", "b", "c"]),
                    "answer": 0,
                    "explanation": "",
                    "source_chunk_id": "",
                    "status": "approved",
                    "origin": "bench",
                    "created_at": now.isoformat(),
                    "updated_at": now.isoformat(),
                }
            )
    rows: dict[str, list[dict]] = {
        t: []
        for t in (
            "learners",
            "identities",
            "learner_settings",
            "enrollments",
            "progress_events",
            "quiz_attempts",
            "review_cards",
            "questions_log",
        )
    }
    for learner in range(have + 1, learners + 1):
        at = (now - timedelta(days=rng.randint(1, 120))).isoformat(timespec="seconds")
        rows["learners"].append(
            {"id": learner, "display_name": f"Learner {learner}", "language": "", "created_at": at}
        )
        rows["identities"].append(
            {
                "platform": "telegram",
                "platform_user_id": str(10**8 + learner),
                "learner_id": learner,
                "created_at": at,
            }
        )
        rows["learner_settings"].append(
            {
                "learner_id": learner,
                "timezone": rng.choice(["UTC", "Europe/Berlin", "Asia/Shanghai"]),
                "active_start": 9,
                "active_end": 21,
                "paused": 0,
                "language": "",
                "updated_at": at,
            }
        )
        rows["enrollments"].append({"learner_id": learner, "course_id": COURSE_ID, "enrolled_at": at})
        for lesson in lessons[: rng.randint(1, 10)]:
            for kind in ("started", "done"):
                rows["progress_events"].append(
                    {
                        "learner_id": learner,
                        "course_id": COURSE_ID,
                        "lesson_id": lesson,
                        "kind": kind,
                        "at": at,
                    }
                )
        for item in rng.sample(items, rng.randint(0, 12)):
            correct = rng.random() < 0.7
            rows["quiz_attempts"].append(
                {
                    "learner_id": learner,
                    "item_id": item["item_id"],
                    "course_id": COURSE_ID,
                    "chosen": 0 if correct else 1,
                    "correct": int(correct),
                    "rating": 3 if correct else 1,
                    "card_before": "",
                    "at": at,
                }
            )
            due = (now + timedelta(days=rng.randint(-5, 30))).isoformat(timespec="seconds")
            card = {
                "card_id": learner,
                "state": 2,
                "step": None,
                "stability": 3.2,
                "difficulty": 5.1,
                "due": due,
                "last_review": at,
            }
            rows["review_cards"].append(
                {
                    "learner_id": learner,
                    "item_id": item["item_id"],
                    "course_id": COURSE_ID,
                    "card": json.dumps(card),
                    "due": due,
                    "updated_at": at,
                }
            )
        for q in range(rng.randint(0, 4)):
            rows["questions_log"].append(
                {
                    "learner_id": learner,
                    "platform": "telegram",
                    "question": f"How does an MQTT broker work? ({q})",
                    "answer": "A broker routes messages between publishers and subscribers. [1]",
                    "grounded": 1,
                    "language": "en",
                    "citations": "[]",
                    "latency_ms": 12.0,
                    "feedback": "",
                    "created_at": at,
                }
            )
    with store.transaction():
        store.db["quiz_items"].insert_all(items, ignore=True)
        for table, batch in rows.items():
            store.db[table].insert_all(batch, batch_size=2000, ignore=True)
    return {table: len(batch) for table, batch in rows.items()}


def _writer(database: Path, stop: threading.Event, written: list[int]) -> None:
    """The bot keeps serving: log a question every few milliseconds on its own connection."""
    store = Store(database)
    try:
        while not stop.is_set():
            store.log_question(
                learner_id=1,
                platform="telegram",
                question="written during the backup",
                answer="",
                grounded=False,
                language="en",
                citations=[],
                latency_ms=1.0,
            )
            written[0] += 1
            time.sleep(0.005)
    finally:
        store.close()


def run(corpus: Path, learners: int = 30_000, out: Path = Path("eval-out/rights")) -> Path:
    """Measure backup and restore; writes ``backup_bench.md`` into ``out`` and returns its path."""
    started = time.perf_counter()
    app = app_with_courses(out, "use", {COURSE_ID: corpus / "lessons" / "en"}, generator="extractive")
    data = app.settings.data_dir
    added = _synthesise(app.store, learners)
    prepared = time.perf_counter() - started
    console.print(f"prepared {data} in {prepared:.0f}s: {added}")

    dest, restored = out / "backup", out / "restored"
    for folder in (dest, restored):
        shutil.rmtree(folder, ignore_errors=True)
    stop, written = threading.Event(), [0]
    thread = threading.Thread(target=_writer, args=(data / "learnbot.db", stop, written))
    thread.start()
    report = backup(data, dest)
    stop.set()
    thread.join()

    t0 = time.perf_counter()
    restored_info = restore(dest, restored)
    copy_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    checked = App(Settings.load(env={}, data_dir=restored, generator="extractive"))
    problems = check(checked)
    check_seconds = time.perf_counter() - t1
    counts = {
        t: checked.store.db[t].count
        for t in ("learners", "progress_events", "quiz_attempts", "review_cards", "questions_log")
    }
    chunks = checked.index.count()
    markdown = "\n".join(
        [
            "# Backup and restore: IoT course + synthetic learners",
            "",
            f"Data dir `{data}`: {report.courses} course(s), {report.lessons} lessons, {chunks} chunks "
            f"(embedder `{app.embedder_name}`), {counts['learners']:,} learners, "
            f"{counts['progress_events']:,} progress events, {counts['quiz_attempts']:,} quiz attempts, "
            f"{counts['review_cards']:,} review cards, {counts['questions_log']:,} logged questions.",
            "",
            "| step | seconds | notes |",
            "|---|---|---|",
            f"| backup (SQLite online backup + Chroma copy) | {report.seconds:.2f} | "
            f"{report.bytes / 1_048_576:.1f} MiB, {report.attempts} attempt(s); {written[0]} questions "
            "logged by a concurrent writer meanwhile |",
            f"| restore (copy + migrations) | {copy_seconds:.2f} | "
            f"schema {restored_info['schema_version']} |",
            f"| restore check (counts, a sample search; loads the embedder) | {check_seconds:.2f} | "
            f"{'ok' if not problems else '; '.join(problems)} |",
            "",
        ]
    )
    path = write_report(out, "backup_bench.md", markdown)
    console.print(markdown)
    if problems:
        raise SystemExit(f"restore check failed: {problems}")
    return path
