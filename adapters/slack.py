"""The Slack front door: slack-bolt's ``AsyncApp`` over Socket Mode or the HTTP Events API.

Handlers only translate: a DM, an @mention, ``/learn``, a button press or a shared file becomes an
:class:`IncomingMessage` for ``Router.handle()``; the replies are rendered as Block Kit
(:mod:`adapters.slack_render`); reading Slack's payloads is :mod:`adapters.slack_events`, looking
up users, DM channels and files :mod:`adapters.slack_directory`, building bolt's app
:mod:`adapters.slack_app`. Every path acknowledges Slack first, then posts "Looking it up…" and
replaces it with the answer.

Example:
    >>> [adapter] = app.chat_adapters("slack")  # SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, settings
    >>> await adapter.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import bolt_app
from adapters.slack_directory import SlackDirectory
from adapters.slack_events import (
    HANDLED_SUBTYPES,
    SUBCOMMANDS,
    USER_ID,
    Recent,
    bot_users,
    command_text,
    delivery_key,
    plain_text,
    team_of,
)
from adapters.slack_render import ACTION_PREFIX, Where, deliver, post_placeholder
from adapters.slack_socket import START_TRIES, open_socket_url
from adapters.slack_stream import SlackDraft
from bot.chat.router import Router
from bot.chat.texts import APOLOGY as SORRY
from bot.health import Health
from bot.messages import IncomingMessage, Reply
from bot.store.rights import EraseReport
from bot.streaming import streaming

__all__ = ["SUBCOMMANDS", "Recent", "SlackAdapter", "command_text", "plain_text"]

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
DEFAULT_API_URL = AsyncWebClient.BASE_URL
LOOKING_IT_UP = "Looking it up…"
READING_FILE = "Reading your file…"
IN_DM = "I'll answer you in a direct message."


class SlackAdapter:
    """Learnbot in Slack: DMs, @mentions (answered in the thread), ``/learn``, buttons, admin uploads.

    Socket Mode when ``app_token`` is given, otherwise the Events API served over HTTP on
    ``host:port`` at ``/slack/events`` (requests are signature-checked by bolt).

    Example:
        >>> adapter = SlackAdapter(app.bot, bot_token="xoxb-…", signing_secret="…", port=3000)
        >>> await adapter.start()
    """

    platform = PLATFORM

    def __init__(
        self,
        bot: Router,
        *,
        bot_token: str,
        signing_secret: str,
        app_token: str = "",
        api_url: str = "",
        port: int = 3000,
        host: str = "127.0.0.1",
        start_tries: int = START_TRIES,
        retry_delay: float = 1.0,
        health: Health | None = None,
    ) -> None:
        if not bot_token:
            raise ValueError("Slack needs a bot token (SLACK_BOT_TOKEN, starting with xoxb-)")
        if not app_token and not signing_secret:
            raise ValueError("the Slack Events API needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN)")
        self.bot = bot
        self.host = host
        self.port = port
        self.api_url = api_url or DEFAULT_API_URL
        self.start_tries, self.retry_delay = start_tries, retry_delay  # Socket Mode start-up
        self._app_token = app_token
        self._seen = Recent()
        self._tasks: set[asyncio.Task[None]] = set()
        self.health = health
        """``/healthz`` and ``/metrics`` (from ``__init__``), served by the Events API server."""
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._session: aiohttp.ClientSession | None = None
        retries = [AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
        self.client = AsyncWebClient(token=bot_token, base_url=self.api_url, retry_handlers=retries)
        self.directory = SlackDirectory(self.client, bot_token)
        """Users' names, locales and DM channels, and shared files, as Slack's Web API tells them."""
        self.app = bolt_app(
            bot_token=bot_token, signing_secret=signing_secret, api_url=self.api_url, retries=retries
        )
        self.app.middleware(self._once)
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("file_shared")(self._on_file_shared)
        self.app.command("/learn")(self._on_command)
        self.app.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_action)

    def __repr__(self) -> str:
        mode = "socket" if self._app_token else f"http {self.host}:{self.port}"
        return f"SlackAdapter({mode}, api={self.api_url})"

    @property
    def url(self) -> str:
        """The Events API request URL this adapter serves (HTTP mode)."""
        return f"http://{self.host}:{self.port}{EVENTS_PATH}"

    # -- ChatAdapter -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect over Socket Mode, or start serving the Events API over HTTP."""
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        if self._app_token:
            self._socket = AsyncSocketModeHandler(
                self.app, self._app_token, web_client=AsyncWebClient(base_url=self.api_url)
            )
            await open_socket_url(self._socket.client, self.api_url, self.start_tries, self.retry_delay)
            await self._socket.connect_async()
            log.info("Slack adapter connected over Socket Mode")
            return
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._http)
        if self.health is not None:
            self.health.add_routes(web_app)
        self._runner = web.AppRunner(web_app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]  # the real one when port 0 asked for any free port
        log.info("Slack adapter serving the Events API on %s", self.url)

    async def stop(self) -> None:
        """Stop receiving, let answers in progress finish (briefly), release connections."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=10)
            for task in pending:
                task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Post a reply to a channel, or to a user id (their DM with the bot, opened if need be)."""
        if USER_ID.match(chat_id):
            chat_id = await self.directory.dm_channel(chat_id)
        await deliver(self.client, Where(chat_id), [reply])

    # -- bolt plumbing -----------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.Response:
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _once(self, body: dict[str, Any], next: Any) -> BoltResponse | None:
        """Acknowledge a retry or duplicate of a delivery already seen, without handling it again."""
        key = delivery_key(body)
        if key and (not self._seen.add(key) or not await self._first_of_replicas(key)):
            log.info("Slack delivered %s again; acknowledged, not handled twice", key)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return await next()

    async def _first_of_replicas(self, key: str) -> bool:
        """No replica took this delivery yet (the key is in the shared store): no placeholder twice."""
        store = getattr(self.bot, "store", None)
        return store is None or await asyncio.to_thread(store.first_delivery, "slack-ack", key)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- listeners: translate, then hand over --------------------------------------------------------

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("user") in bot_users(body):
            return
        if not event.get("channel"):
            return  # malformed: nowhere to answer
        if event.get("subtype") not in HANDLED_SUBTYPES or not event.get("user"):
            return
        thread = event.get("thread_ts") or ""
        where = Where(event["channel"], thread or None)
        fields = {
            "user_id": event["user"],
            "chat_id": event["channel"],
            "thread_id": thread,
            "message_id": event.get("ts", ""),
            "text": plain_text(event.get("text", "")),
            "delivery_id": body.get("event_id", ""),
            "team_id": team_of(body),
        }
        files = event.get("files") or []
        for f in files:
            if isinstance(f, dict) and f.get("id"):
                self._take_file(where, fields, f["id"], f)
        if not files:
            self._spawn(self._converse(where, fields, LOOKING_IT_UP))

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        channel = event.get("channel") or ""
        if not channel or channel.startswith("D") or event.get("bot_id") or not event.get("user"):
            return  # a mention in a DM also arrives as a message event
        thread = event.get("thread_ts") or event.get("ts") or ""
        fields = {
            "user_id": event["user"],
            "chat_id": channel,
            "thread_id": thread,
            "message_id": event.get("ts") or "",
            "text": plain_text(event.get("text", "")),
            "delivery_id": body.get("event_id", ""),
            "team_id": team_of(body),
            "direct": False,
        }
        self._spawn(self._converse(Where(channel, thread), fields, LOOKING_IT_UP))

    async def _on_file_shared(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        channel, user = event.get("channel_id") or "", event.get("user_id") or ""
        if not channel.startswith("D") or not user or user in bot_users(body) or not event.get("file_id"):
            return  # only files sent to the bot itself are admin uploads
        fields = {
            "user_id": user,
            "chat_id": channel,
            "delivery_id": body.get("event_id", ""),
            "team_id": team_of(body),
        }
        self._take_file(Where(channel), fields, event["file_id"], None)

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        channel, user = body.get("channel_id") or "", body.get("user_id") or ""
        in_dm = channel.startswith("D")
        if in_dm:
            await ack()
        else:
            await ack(text=IN_DM)
        if not user:
            return  # malformed: nobody to answer
        where = Where(channel, fallback=user) if in_dm else Where(user)
        fields = {
            "user_id": user,
            "chat_id": channel if in_dm else user,
            "display_name": body.get("user_name", ""),
            "text": command_text(body.get("text") or "", self.bot.commands),
            "delivery_id": f"command:{body.get('trigger_id', '')}",
            "team_id": team_of(body),
        }
        self._spawn(self._converse(where, fields, LOOKING_IT_UP))

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = (body.get("user") or {}).get("id")
        if not action.get("value") or not user:
            return  # a link button (Slack opened the URL already), or a malformed payload
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        message = body.get("message") or {}
        thread = message.get("thread_ts") or ""
        fields = {
            "user_id": user,
            "chat_id": channel or user,
            "thread_id": thread,
            "message_id": message.get("ts", ""),
            "callback_data": action["value"],
            "delivery_id": f"action:{body.get('trigger_id') or action.get('action_ts', '')}",
            "team_id": team_of(body),
            "direct": not channel or channel.startswith("D"),
        }
        # in a shared channel, what a button press answers is for the presser only
        private = user if channel and not channel.startswith("D") else None
        where = Where(channel or user, thread or None, ephemeral=private)
        self._spawn(self._converse(where, fields, placeholder=None))

    def _take_file(self, where: Where, fields: dict[str, Any], file_id: str, info: dict | None) -> None:
        # a DM upload arrives twice (file_shared and a file_share message): handle the file once
        if not self._seen.add(f"file:{file_id}"):
            return
        fields = {**fields, "delivery_id": f"file:{file_id}"}
        self._spawn(self._converse(where, fields, READING_FILE, file=(file_id, info)))

    # -- one conversation turn ---------------------------------------------------------------------

    async def _converse(
        self, where: Where, fields: dict[str, Any], placeholder: str | None, file: tuple | None = None
    ) -> None:
        try:
            where, (name, locale) = await asyncio.gather(
                post_placeholder(self.client, where, placeholder), self.directory.profile(fields["user_id"])
            )
            if file:
                fields["file"] = await self.directory.file_ref(*file)
            fields["display_name"] = name or fields.get("display_name", "")
            draft = SlackDraft(  # shows the answer as it is written
                self.client, where, asyncio.get_running_loop(), user_id=fields["user_id"]
            )
            await draft.thinking()
            with streaming(draft.stream()):
                replies = await self.bot.handle(IncomingMessage(PLATFORM, locale=locale, **fields))
            await deliver(self.client, await draft.finish(), replies)
        except Exception:
            log.exception("Slack turn failed (chat %s, user %s)", fields["chat_id"], fields["user_id"])
            with contextlib.suppress(Exception):
                await deliver(self.client, where, [Reply(SORRY)])

    def forget(self, report: EraseReport) -> None:
        """Drop an erased learner's cached Slack name, locale and DM channel."""
        for platform, user_id in report.identities:
            if platform == PLATFORM:
                self.directory.forget(user_id)
