"""A local fake Slack Web API, and signed Events API requests, so tests run the real slack-bolt app.

The server (aiohttp on 127.0.0.1, a random port) answers the Web API methods Learnbot uses with
realistic payloads, records every call with its decoded parameters (query, form or JSON), serves the
upload URL ``files.getUploadURLExternal`` hands out, serves private files to a request carrying the
bot token (anything else gets Slack's sign-in page, as the real one does), and speaks just enough
Socket Mode (``apps.connections.open`` plus a WebSocket) to push envelopes.

The request builders make what Slack sends to the app: an Events API envelope, a slash command form,
a ``block_actions`` payload, each signed ``v0`` with HMAC-SHA256 like ``slack_sdk.signature``. They
live in :mod:`adapters.fakes.slack_requests` and are importable from here too.

Example:
    >>> async with FakeSlack() as slack:
    ...     status, _ = await post(adapter.url, event_request(dm("U1", "What is phishing?")))
    ...     update = (await slack.wait_for("chat.update"))[0]
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from adapters.fakes import slack_requests as _requests
from adapters.fakes.common import FakeServer
from adapters.fakes.slack_requests import (
    BOT_ID,
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    SlackRequest,
    action_payload,
    action_request,
    command_request,
    dm,
    envelope,
    event_request,
    file_shared,
    mention,
    post,
    signature,
    signed,
)

__all__ = [
    "APP_TOKEN",
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER",
    "SIGNING_SECRET",
    "TEAM",
    "Call",
    "FakeSlack",
    "SlackRequest",
    "action_payload",
    "action_request",
    "command_request",
    "dm",
    "envelope",
    "event_request",
    "file_shared",
    "mention",
    "post",
    "signature",
    "signed",
]

BOT_TOKEN = "xoxb-1-test-token-not-a-secret"
APP_TOKEN = "xapp-1-test-token-not-a-secret"
SIGN_IN_PAGE = "<!DOCTYPE html><html><body>Sign in to Slack</body></html>"

_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{4,}$")


def _dm_of(user: str) -> str:
    """The fake's id for the bot's DM with a user: ``U0ANN`` talks to the bot in ``D0ANN``."""
    return "D" + user[1:]


class _ApiError(Exception):
    """A Web API method's error code, answered as ``{"ok": false, "error": code}``."""


@dataclass
class Call:
    """One Web API call the app made: the method, its decoded parameters, the token it used."""

    method: str
    params: dict[str, Any]
    token: str = ""
    body: bytes = b""


class FakeSlack(FakeServer[Call]):
    """An aiohttp app on 127.0.0.1 answering Slack Web API calls for one bot token."""

    def __init__(self, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.downloads: list[str] = []  # the Authorization header of each file download
        self.failures: dict[str, str] = {}  # method -> error for its next call
        self.socket_acks: list[dict[str, Any]] = []
        self.opened: list[str] = []  # users whose DM conversations.open opened, in order
        self._sockets: list[web.WebSocketResponse] = []

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL, the value of ``LEARNBOT_SLACK_API_URL``."""
        return f"{self.root}/api/"

    def fail(self, method: str, error: str) -> None:
        """Make the next call of ``method`` answer ``{"ok": false, "error": error}``."""
        self.failures[method] = error

    def add_file(self, name: str, content: bytes, user: str = "U0ADMIN") -> dict[str, Any]:
        """Register a file someone shared; returns Slack's file object for events and ``files.info``."""
        file_id = _requests.next_id("F")
        info = {
            "id": file_id,
            "name": name,
            "title": name,
            "size": len(content),
            "user": user,
            "mimetype": "application/octet-stream",
            "url_private": f"{self.root}/files-pri/{TEAM}-{file_id}/{name}",
            "url_private_download": f"{self.root}/files-pri/{TEAM}-{file_id}/download/{name}",
        }
        self.files[file_id] = info
        self.contents[file_id] = content
        return info

    async def push_envelope(self, envelope: dict[str, Any], timeout: float = 10.0) -> None:
        """Send a Socket Mode envelope over the app's WebSocket (waits for it to connect)."""
        deadline = time.monotonic() + timeout
        while not self._sockets:
            if time.monotonic() > deadline:
                raise AssertionError("the app never opened its Socket Mode connection")
            await asyncio.sleep(0.01)
        await self._sockets[-1].send_json(envelope)

    def routes(self, app: web.Application) -> None:
        """The Web API, the upload and private-file URLs, and the Socket Mode WebSocket."""
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team_file}/{rest:.+}", self._download)
        app.router.add_get("/socket", self._socket)

    async def close(self) -> None:
        """Close the app's Socket Mode connections, then stop serving."""
        for ws in self._sockets:
            await ws.close()
        await super().close()

    # -- HTTP ------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and body:
            params.update(json.loads(body))
        elif request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        self.calls.append(Call(method, params, token, body))
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.failures:
            return web.json_response({"ok": False, "error": self.failures.pop(method)})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            return web.json_response({"ok": True, **handler(params)})
        except _ApiError as error:
            return web.json_response({"ok": False, "error": str(error)})

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = data = await request.read()
        return web.Response(text=f"OK - {len(data)}")

    async def _download(self, request: web.Request) -> web.Response:
        self.downloads.append(request.headers.get("Authorization", ""))
        file_id = request.match_info["team_file"].removeprefix(f"{TEAM}-")
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return web.Response(text=SIGN_IN_PAGE, content_type="text/html")
        if file_id not in self.contents:
            return web.Response(status=404, text="file not found")
        return web.Response(body=self.contents[file_id], content_type="application/octet-stream")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return ws

    # -- methods ---------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "team_id": TEAM,
            "user": "learnbot",
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def _channel(self, params: dict[str, Any]) -> str:
        channel = str(params.get("channel") or params.get("channel_id") or "")
        return _dm_of(channel) if channel.startswith(("U", "W")) else channel  # a user id means their DM

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": params.get("text"),
        }
        for key in ("blocks", "thread_ts"):
            if key in params:
                message[key] = params[key]
        return message

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = _requests.ts()
        return {"channel": self._channel(params), "ts": ts, "message": self._message(params, ts)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = str(params.get("ts"))
        return {
            "channel": self._channel(params),
            "ts": ts,
            "text": params.get("text"),
            "message": self._message(params, ts),
        }

    def _chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("thread_ts"):
            raise _ApiError("invalid_arguments")
        return {"channel": self._channel(params), "ts": _requests.ts()}

    def _chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel(params), "ts": params.get("ts")}

    def _chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = params.get("ts")
        return {"channel": self._channel(params), "ts": ts, "message": self._message(params, str(ts))}

    def _assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel(params), "ts": params.get("ts")}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": _requests.ts()}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = _requests.next_id("F")
        self.files[file_id] = {"id": file_id, "name": params.get("filename"), "size": int(params["length"])}
        return {"upload_url": f"{self.root}/upload/v1/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel_id") or "")
        if channel and not _CONVERSATION_ID.match(channel):
            # Slack validates channel_id as a conversation id: a user id is refused, not a DM
            raise _ApiError("invalid_arguments")
        files = json.loads(params["files"])
        return {"files": [{**self.files.get(f["id"], {}), **f} for f in files]}

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"file": self.files[params["file"]]}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params["user"]
        name = f"learner-{user_id.lower()}"
        profile = {"display_name": name.title(), "real_name": name.title()}
        return {
            "user": {
                "id": user_id,
                "name": name,
                "real_name": name.title(),
                "locale": "en-US",
                "profile": profile,
                "is_bot": False,
            }
        }

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise _ApiError(
                "users_list_not_supplied" if not users else "method_not_supported_for_channel_type"
            )
        channel = _dm_of(users[0])
        self.opened.append(users[0])
        return {
            "no_op": False,
            "already_open": False,
            "channel": {"id": channel, "is_im": True, "user": users[0]},
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": _requests.next_id("V"), **(params.get("view") or {})}}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}
