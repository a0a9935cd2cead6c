"""What the local fake platform servers (:mod:`adapters.fakes.telegram`, :mod:`adapters.fakes.slack`) share.

Each records every API call the bot makes and serves an aiohttp app on 127.0.0.1 at a free port;
tests wait for the calls they expect with :meth:`FakeServer.wait_for`.

Example:
    >>> class FakeChat(FakeServer[Call]):
    ...     def routes(self, app: web.Application) -> None:
    ...         app.router.add_post("/api/{method}", self._api)
    >>> async with FakeChat() as server:
    ...     [sent] = await server.wait_for("chat.postMessage")
"""

from __future__ import annotations

import asyncio
import time
from typing import Generic, Protocol, Self, TypeVar

from aiohttp import web


class RecordedCall(Protocol):
    """A recorded API call: at least the name of the method called."""

    method: str


C = TypeVar("C", bound=RecordedCall)


class FakeServer(Generic[C]):
    """A fake API on 127.0.0.1 (a free port) that records the calls made to it.

    Subclasses add their routes in :meth:`routes` and append each call they answer to ``calls``.
    """

    def __init__(self) -> None:
        self.calls: list[C] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes to its aiohttp app."""
        raise NotImplementedError

    def calls_to(self, method: str) -> list[C]:
        """The recorded calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[C]:
        """Wait until ``method`` was called at least ``count`` times; return those calls."""
        deadline = time.monotonic() + timeout
        while len(self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"{method} called {len(self.calls_to(method))}x, not {count}: {seen}")
            await asyncio.sleep(0.01)
        return self.calls_to(method)

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop serving (a subclass closes its own open connections first)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self.port}, calls={len(self.calls)})"
