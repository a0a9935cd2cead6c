"""``/healthz`` and ``/metrics`` for the HTTP modes.

``/healthz`` answers 200 with ``{"status": "ok", ...}`` when the database and the index both answer
within :data:`CHECK_TIMEOUT_S`, else 503 with what failed (for a load balancer's readiness probe).
``/metrics`` is the Prometheus text format of :mod:`bot.metrics` (prometheus-client's registry).

They are served on the same port as the Slack Events API and the Telegram webhook (both aiohttp
servers of ours, through :meth:`Health.add_routes`); ``LEARNBOT_HEALTH_PORT`` adds a server of
their own for long polling and Socket Mode, which have no HTTP server.

The composition root (:mod:`bot.app`) builds it from the database location and the index; this
module knows neither the app nor the adapters that serve it.

Example:
    >>> health = Health.readiness(settings.database_location, lambda: index.count())
    >>> ok, checks = await health.status()
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bot.database import connect, is_postgres

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 3.0
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
Check = Callable[[], str]
"""A readiness check: returns a short status text, raises when the part does not answer."""


def database_check(path: Path | str) -> Check:
    """The database answers a read (on a connection of its own, so a long write elsewhere shows).

    ``path`` is the SQLite file, or the PostgreSQL URL (a fresh connection each time, then closed).
    """
    if is_postgres(path):

        def check_postgres() -> str:
            db = connect(path)
            try:
                return f"schema {db.execute('select max(version) from schema_migrations').fetchone()[0]}"
            finally:
                db.close()

        return check_postgres

    def check() -> str:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CHECK_TIMEOUT_S) as conn:
            version = conn.execute("select max(version) from schema_migrations").fetchone()[0]
        return f"schema {version}"

    return check


class Health:
    """Readiness checks and the metrics page, served by aiohttp."""

    def __init__(self, checks: dict[str, Check], timeout: float = CHECK_TIMEOUT_S) -> None:
        self.checks = checks
        self.timeout = timeout

    @classmethod
    def readiness(cls, database: Path | str, index_count: Callable[[], int]) -> Health:
        """Checks that the database (SQLite file or PostgreSQL URL) and the index answer.

        ``index_count`` is called on each check, so an index rebuilt since still answers for itself.
        """
        return cls({"database": database_check(database), "index": lambda: f"{index_count()} records"})

    async def status(self) -> tuple[bool, dict[str, str]]:
        """``(ready, {check: "ok: detail" or "failed: reason"})``; each check in a thread, with a timeout."""

        async def run(check: Check) -> str:
            try:
                return "ok: " + await asyncio.wait_for(asyncio.to_thread(check), self.timeout)
            except TimeoutError:
                return f"failed: no answer in {self.timeout:g}s"
            except Exception as exc:  # a readiness probe reports, never raises
                return f"failed: {type(exc).__name__}: {exc}"

        results = await asyncio.gather(*(run(c) for c in self.checks.values()))
        found = dict(zip(self.checks, results, strict=True))
        return all(r.startswith("ok") for r in found.values()), found

    async def body(self) -> tuple[int, str]:
        """The ``/healthz`` status code and JSON body."""
        ready, checks = await self.status()
        if not ready:
            log.warning("health check failed: %s", checks)
        return (200 if ready else 503), json.dumps(
            {"status": "ok" if ready else "unavailable", "checks": checks}
        )

    @staticmethod
    def metrics() -> tuple[bytes, str]:
        """The Prometheus exposition text and its content type."""
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

    # -- aiohttp (the Slack Events API and Telegram webhook servers, a standalone one) ----

    async def _aiohttp_health(self, request: web.Request) -> web.Response:
        code, body = await self.body()
        return web.Response(status=code, text=body, content_type="application/json")

    async def _aiohttp_metrics(self, request: web.Request) -> web.Response:
        data, content_type = self.metrics()
        return web.Response(body=data, headers={"Content-Type": content_type})

    def add_routes(self, web_app: web.Application) -> None:
        """Serve ``/healthz`` and ``/metrics`` from an aiohttp application."""
        web_app.router.add_get(HEALTH_PATH, self._aiohttp_health)
        web_app.router.add_get(METRICS_PATH, self._aiohttp_metrics)

    async def serve(self, host: str, port: int) -> web.AppRunner:
        """A server of its own for ``/healthz`` and ``/metrics``; ``await runner.cleanup()`` stops it."""
        web_app = web.Application()
        self.add_routes(web_app)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("health and metrics on http://%s:%s%s", host, runner.addresses[0][1], HEALTH_PATH)
        return runner
