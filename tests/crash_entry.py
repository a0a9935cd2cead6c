"""``learnbot`` as the crash tests run it: the real CLI, the hash embedder, and pauses at checkpoints.

``python -m tests.crash_entry ARGS`` is ``learnbot ARGS`` with two test-only additions:

- the deterministic ``hash`` embedder (``LEARNBOT_EMBEDDER=hash``), so a process starts in seconds;
- ``LEARNBOT_CRASH_AT=NAME:N`` pauses the process the N-th time it reaches checkpoint ``NAME``, after
  printing ``CHECKPOINT NAME N`` on stdout, so a test knows it is mid-way and kills it (SIGKILL).
  Nothing pauses when the variable is unset. Checkpoints:

  ``ingest-batch``   a batch of new records was written to the index (the catalogue still old)
  ``ingest-commit``  the catalogue switched to the new version (old records not yet deleted)
  ``push-recorded``  planned pushes are recorded as pending, none sent
  ``push-claimed``   a push is claimed by this worker, not yet sent
  ``push-sent``      a push was sent and marked sent (the next one not yet claimed)
  ``push-delivered`` the platform accepted a push; it is not yet marked sent

It also adds ``inspect COURSE [--search Q]`` (the live lesson versions and index records as JSON, and
the lessons a search finds) and ``ingest-and-inspect PATH COURSE``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections import Counter
from typing import Any

from bot.testing import HashEmbedder
from knowledge import embedders

embedders.EMBEDDERS["hash"] = HashEmbedder
_reached: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    """Pause here for good if ``LEARNBOT_CRASH_AT`` names this checkpoint and its count is reached."""
    _reached[name] += 1
    wanted, _, count = os.environ.get("LEARNBOT_CRASH_AT", "").partition(":")
    if wanted == name and _reached[name] == int(count or 1):
        print(f"CHECKPOINT {name} {_reached[name]}", flush=True)
        while True:
            time.sleep(3600)


def _after(owner: Any, method: str, name: str) -> None:
    original = getattr(owner, method)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if method != "claim_push" or result:
            checkpoint(name)
        return result

    setattr(owner, method, wrapped)


def _install() -> None:
    import bot.jobs.pushes
    from bot.store import Store
    from knowledge.index import ChromaIndex

    _after(ChromaIndex, "add", "ingest-batch")
    _after(Store, "commit_course", "ingest-commit")
    _after(bot.jobs.pushes, "record", "push-recorded")
    _after(Store, "claim_push", "push-claimed")
    _after(Store, "mark_push_sent", "push-sent")
    from adapters.telegram import TelegramAdapter

    original_send = TelegramAdapter.send

    async def send(self: TelegramAdapter, chat_id: str, reply: Any) -> None:
        await original_send(self, chat_id, reply)
        checkpoint("push-delivered")

    TelegramAdapter.send = send  # type: ignore[method-assign]


def main() -> None:
    """Run the CLI with the test additions."""
    _install()
    from bot.cli import cli
    from bot.cli import main as learnbot_main
    from bot.cli.common import open_app

    @cli.command("inspect")
    def inspect(course: str, search: str = "") -> None:
        app = open_app()
        hits = app.retriever.retrieve(search, 5) if search else []
        live = {lesson: v for (c, lesson), v in app.store.lesson_versions().items() if c == course}
        records = list(app.index.records(course))
        chunks: dict[str, list[str]] = {}
        for r in records:
            if live.get(r.chunk.lesson_id) == r.version:
                chunks.setdefault(r.chunk.lesson_id, []).append(r.chunk.chunk_id)
        print(
            json.dumps(
                {
                    "versions": live,
                    "chunks": {k: sorted(v) for k, v in chunks.items()},
                    "records": len(records),
                    "stale": sum(1 for r in records if live.get(r.chunk.lesson_id) != r.version),
                    "hits": [h.chunk.lesson_id for h in hits],
                }
            ),
            flush=True,
        )

    @cli.command("ingest-and-inspect")
    def ingest_and_inspect(path: str, course: str) -> None:
        from pathlib import Path

        from bot.cli.courses import ingest

        inspect(course, search="sensor relay gateway")  # the state this run starts from
        ingest(Path(path), None, None, None, None)
        inspect(course)

    sys.argv[0] = "learnbot"
    learnbot_main()


if __name__ == "__main__":
    main()
