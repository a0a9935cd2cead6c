"""Telegram's webhook, served by an aiohttp application of ours beside ``/healthz`` and ``/metrics``.

In webhook mode the PTB ``Application`` is built with ``updater(None)``: nothing of PTB's listens.
This server takes Telegram's POSTs on the webhook path, refuses (403) any request whose
``X-Telegram-Bot-Api-Secret-Token`` header is not the configured secret, caps the body size, and
puts each :class:`telegram.Update` on the application's ``update_queue``, where the running
application handles it as it would a polled one. The same server answers ``/healthz`` and
``/metrics`` (see :mod:`bot.health`), so a load balancer probes the port Telegram posts to.

Example:
    >>> webhook = TelegramWebhook(application, "/telegram/updates", secret, health=health)
    >>> await webhook.start("127.0.0.1", 8443)  # then tell Telegram: bot.set_webhook(url, secret_token=...)
    >>> await webhook.stop()
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ExtBot

from bot.health import Health

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024
"""Bytes one update may take; larger requests get 413 (an update is a few KiB)."""


class TelegramWebhook:
    """The HTTP server Telegram posts updates to.

    Args:
        application: The PTB application, built with ``updater(None)`` and started; updates go to its
            ``update_queue``.
        path: The URL path Telegram posts to (that of the public webhook URL), e.g. ``/telegram/updates``.
        secret: The webhook secret token given to ``setWebhook``; requests without it get 403.
        health: ``/healthz`` and ``/metrics`` to serve on the same port; None for neither.
        max_body: Largest request body accepted, in bytes.
    """

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        path: str,
        secret: str,
        *,
        health: Health | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self.application = application
        self.path = "/" + path.strip("/")
        self._secret = secret.encode()
        self.health = health
        self.max_body = max_body
        self._runner: web.AppRunner | None = None

    def web_app(self) -> web.Application:
        """The aiohttp application: the webhook path (with or without a trailing slash), health, metrics."""
        web_app = web.Application(client_max_size=self.max_body)
        web_app.router.add_post(self.path, self._receive)
        if self.path != "/":
            web_app.router.add_post(self.path + "/", self._receive)
        if self.health is not None:
            self.health.add_routes(web_app)
        return web_app

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0: any free one, then see :attr:`port`)."""
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("Telegram webhook server on http://%s:%s%s", host, self.port, self.path)

    @property
    def port(self) -> int:
        """The port listened on; 0 before :meth:`start`."""
        return self._runner.addresses[0][1] if self._runner and self._runner.addresses else 0

    async def stop(self) -> None:
        """Stop listening (requests in progress finish first). Safe to call twice."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        """One update from Telegram: checked, parsed, queued; 200 before it is handled."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            log.debug("a webhook request without the right secret token was refused")
            return web.Response(status=403, text="Forbidden")
        if request.content_type != "application/json":
            return web.Response(status=415, text="Unsupported Media Type")
        bot = self.application.bot
        try:
            update = Update.de_json(await request.json(), bot)
        except web.HTTPRequestEntityTooLarge:
            raise  # aiohttp answers 413
        except Exception as exc:  # not JSON, or JSON that is not an update
            log.warning("a webhook request that is not an update was refused: %s", type(exc).__name__)
            return web.Response(status=400, text="Bad Request")
        log.debug("update %s received on the webhook", update.update_id)
        if isinstance(bot, ExtBot):  # as PTB's own webhook does, for arbitrary callback data
            bot.insert_callback_data(update)
        await self.application.update_queue.put(update)
        return web.Response(status=200)


__all__ = ["MAX_BODY", "SECRET_HEADER", "TelegramWebhook"]
