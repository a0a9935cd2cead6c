"""Admins load courses while the bot serves: ``learnbot ingest`` hands the job to ``learnbot serve``.

Chroma's embedded index belongs to one process (two writers corrupt it; a reader elsewhere sees a
stale copy), so ``serve`` keeps owning it and listens on a unix socket in the data dir
(``ingest.sock``, as private as the data dir). ``learnbot ingest``, ``remove`` and ``reindex`` find
the socket answering and send the job there instead of opening the index; ``serve`` runs it on a
worker thread with its own ingestor, streams progress and the result back line by line, and the
catalogue generation it bumps makes the chat stack reload its lessons: no restart.

Why not open the index from both processes: Chroma has no cross-process locking for its SQLite and
HNSW files. Why not a Chroma server by default: the embedded default must stay one command. With
``LEARNBOT_CHROMA_URL`` set there is no data-dir lock and the CLI writes to the server directly.

Protocol: the client sends one JSON line ``{"command": ..., "args": {...}}``; the server answers
JSON lines ``{"line": text}`` / ``{"notice": text}`` and one final ``{"exit": status}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOCKET_NAME = "ingest.sock"


def socket_path(data_dir: Path) -> Path:
    """Where ``serve`` listens for admin jobs."""
    return data_dir / SOCKET_NAME


class IngestService:
    """The serving process's end: runs admin jobs (one at a time) on the app it serves with.

    Args:
        app: The serving :class:`bot.app.App` (its ingestor, index and store).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.path = socket_path(app.settings.data_dir)
        self._server: asyncio.AbstractServer | None = None
        self._one_at_a_time = threading.Lock()

    async def start(self) -> None:
        """Listen on the data dir's socket (a stale one from a crashed serve is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        self.path.chmod(0o600)

    async def stop(self) -> None:
        """Stop listening and remove the socket."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()

        def send(message: dict[str, Any]) -> None:
            data = (json.dumps(message) + "\n").encode()
            loop.call_soon_threadsafe(writer.write, data)

        try:
            request = json.loads(await reader.readline())
            status = await asyncio.to_thread(self._run, request["command"], request.get("args", {}), send)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the admin as one line
            writer.write((json.dumps({"notice": f"error: {exc}"}) + "\n").encode())
            status = 2
        # Written here, on the loop: after the worker's lines (queued before its thread returned).
        writer.write((json.dumps({"exit": status}) + "\n").encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    def _run(self, command: str, args: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> int:
        with self._one_at_a_time:
            log.info("admin job from the CLI: %s", command)
            return JOBS[command](self.app, args, send)


def _ingest(app: Any, args: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> int:
    from knowledge.loaders import CourseOverrides, load_course

    cap = app.settings.max_document_mb * 1_000_000 or None
    overrides = CourseOverrides(
        args.get("course_id"), args.get("track"), args.get("premium"), args.get("language")
    )
    course = load_course(Path(args["path"]), overrides, max_document_bytes=cap)

    def on_lesson(n: int, total: int, lesson_id: str, chunks: int) -> None:
        send({"notice": f"lesson {n}/{total} {lesson_id or 'pages outside the lessons'}: {chunks} chunks"})

    report = app.ingestor.ingest(course, None, on_lesson=on_lesson)
    for problem in report.problems:
        send({"notice": f"skipped {problem}"})
    send(
        {
            "line": f"{course.course_id}: {report.lessons} lessons, {report.chunks} chunks; "
            f"{report.lessons_changed} lessons changed, {report.lessons_removed} removed, "
            f"{report.chunks_embedded} chunks embedded ({report.chunks_reused} reused) in "
            f"{report.seconds:.1f}s (by the running serve; it answers from them now)"
        }
    )
    return 1 if report.problems else 0


def _remove(app: Any, args: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> int:
    course_id = args["course_id"]
    if not app.ingestor.remove(course_id):
        send({"notice": f"error: no course with id {course_id!r}; `learnbot courses` lists them"})
        return 2
    send({"line": f"removed {course_id} (by the running serve)"})
    return 0


def _reindex(app: Any, args: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> int:
    count = app.reindex(args["embedder"], None)
    send({"line": f"reindexed {count} chunks with {args['embedder']} (by the running serve)"})
    return 0


JOBS: dict[str, Callable[[Any, dict[str, Any], Callable[[dict[str, Any]], None]], int]] = {
    "ingest": _ingest,
    "remove": _remove,
    "reindex": _reindex,
}


def hand_over(
    data_dir: Path, command: str, args: dict[str, Any], print_line: Callable[[str, bool], None]
) -> int | None:
    """Send a job to the ``serve`` running on ``data_dir``; its exit status, or ``None`` if none runs.

    ``print_line(text, is_notice)`` shows what the server reports as it works.
    """
    path = socket_path(data_dir)
    if not path.exists():
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        return None  # a socket left by a serve that crashed: nobody listens
    with client, client.makefile("rwb") as stream:
        stream.write((json.dumps({"command": command, "args": args}) + "\n").encode())
        stream.flush()
        for raw in stream:
            message = json.loads(raw)
            if "exit" in message:
                return int(message["exit"])
            if "line" in message:
                print_line(message["line"], False)
            else:
                print_line(message["notice"], True)
    return 2  # the serve went away mid-job


async def start_for(app: Any) -> IngestService | None:
    """For ``serve``: listen for admin jobs when this process owns the embedded index."""
    if app.settings.chroma_url:
        return None
    service = IngestService(app)
    try:
        await service.start()
    except OSError as exc:  # e.g. a data dir path too long for a unix socket: serve anyway
        log.warning("admin jobs cannot be handed to this serve (%s); stop it to run learnbot ingest", exc)
        return None
    return service
