"""``python -m eval.migrate_bench``: how long ``learnbot migrate-to`` takes on a 30,000-learner store.

Builds a SQLite store with a 20-lesson course and the backup benchmark's synthetic learners
(progress, attempts, review cards, questions), then copies it into a throwaway PostgreSQL database
with the code behind ``learnbot migrate-to`` and prints rows, seconds and rows per second.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bot.store import Store
from bot.store.copy import copy_store
from eval.backup_bench import COURSE_ID, _synthesise
from eval.load_replicas import throwaway_database


def run(learners: int = 30_000, admin_url: str = "postgresql:///postgres") -> dict[str, float]:
    """Build the store, copy it, and return the counts and timings."""
    with tempfile.TemporaryDirectory() as folder:
        source = Store(Path(folder) / "learnbot.db")
        course = {"course_id": COURSE_ID, "title": "Bench", "language": "en", "track": "", "premium": 0}
        lessons = [
            {"lesson_id": f"l{n:02d}", "title": f"L{n}", "position": n, "version": "v1", "chunk_count": 3}
            for n in range(20)
        ]
        source.commit_course(course, lessons)
        _synthesise(source, learners)
        size = (Path(folder) / "learnbot.db").stat().st_size
        with throwaway_database(admin_url) as url:
            target = Store(url)
            began = time.perf_counter()
            report = copy_store(source, target)
            seconds = time.perf_counter() - began
            target.close()
        source.close()
    return {
        "learners": float(learners),
        "rows": float(report.rows),
        "sqlite_mb": size / 1e6,
        "seconds": seconds,
        "rows_per_s": report.rows / seconds,
    }


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 30_000)
    print(" ".join(f"{k}={v:,.1f}" for k, v in result.items()))
