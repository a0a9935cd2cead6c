"""A local fake Slack Web API, and signed Events API requests, so tests run the real slack-bolt app.

The server (aiohttp on 127.0.0.1, a random port) answers the Web API methods Learnbot uses with
realistic payloads, records every call with its decoded parameters (query, form or JSON), serves the
upload URL ``files.getUploadURLExternal`` hands out, serves private files to a request carrying the
bot token (anything else gets Slack's sign-in page, as the real one does), and speaks just enough
Socket Mode (``apps.connections.open`` plus a WebSocket) to push envelopes.

The request builders make what Slack sends to the app: an Events API envelope, a slash command form,
a ``block_actions`` payload, each signed ``v0`` with HMAC-SHA256 like ``slack_sdk.signature``.

Example:
    >>> async with FakeSlack() as slack:
    ...     status, _ = await post(adapter.url, event_request(dm("U1", "What is phishing?")))
    ...     update = (await slack.wait_for("chat.update"))[0]
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-1-test-token-not-a-secret"
APP_TOKEN = "xapp-1-test-token-not-a-secret"
SIGNING_SECRET = "test-signing-secret-not-a-secret"
TEAM = "T0TEAM"
BOT_USER = "U0LEARNBOT"
BOT_ID = "B0LEARNBOT"
SIGN_IN_PAGE = "<!DOCTYPE html><html><body>Sign in to Slack</body></html>"

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


def _ts() -> str:
    return f"{int(time.time())}.{next(_ids):06d}"


@dataclass
class Call:
    """One Web API call the app made: the method, its decoded parameters, the token it used."""

    method: str
    params: dict[str, Any]
    token: str = ""
    body: bytes = b""


@dataclass
class SlackRequest:
    """An HTTP request as Slack would send it to the app: raw body and headers."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """An aiohttp app on 127.0.0.1 answering Slack Web API calls for one bot token."""

    def __init__(self, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.calls: list[Call] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.downloads: list[str] = []  # the Authorization header of each file download
        self.failures: dict[str, str] = {}  # method -> error for its next call
        self.socket_acks: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

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
        file_id = _next_id("F")
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

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; return those calls."""
        deadline = time.monotonic() + timeout
        while len(self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"{method} called {len(self.calls_to(method))}x, not {count}: {seen}")
            await asyncio.sleep(0.01)
        return self.calls_to(method)

    async def push_envelope(self, envelope: dict[str, Any], timeout: float = 10.0) -> None:
        """Send a Socket Mode envelope over the app's WebSocket (waits for it to connect)."""
        deadline = time.monotonic() + timeout
        while not self._sockets:
            if time.monotonic() > deadline:
                raise AssertionError("the app never opened its Socket Mode connection")
            await asyncio.sleep(0.01)
        await self._sockets[-1].send_json(envelope)

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team_file}/{rest:.+}", self._download)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

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
        return web.json_response({"ok": True, **handler(params)})

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
        return "D" + channel[1:] if channel.startswith("U") else channel  # a user id means their DM

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
        ts = _ts()
        return {"channel": self._channel(params), "ts": ts, "message": self._message(params, ts)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = str(params.get("ts"))
        return {
            "channel": self._channel(params),
            "ts": ts,
            "text": params.get("text"),
            "message": self._message(params, ts),
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel(params), "ts": params.get("ts")}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": _ts()}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = _next_id("F")
        self.files[file_id] = {"id": file_id, "name": params.get("filename"), "size": int(params["length"])}
        return {"upload_url": f"{self.root}/upload/v1/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
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

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": _next_id("V"), **(params.get("view") or {})}}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}


# -- what Slack sends to the app -------------------------------------------------------------


def signature(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """Slack's ``v0`` request signature: HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed(
    body: str,
    content_type: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> SlackRequest:
    """Headers Slack sends with ``body``; ``timestamp`` defaults to now."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(body, ts, secret),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return SlackRequest(body, headers)


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """The Events API ``event_callback`` wrapper around one event."""
    return {
        "token": "verification-token-unused",
        "team_id": TEAM,
        "api_app_id": "A0LEARNBOT",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or _next_id("Ev"),
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }


def event_request(event: dict[str, Any], event_id: str | None = None, **signing: Any) -> SlackRequest:
    """A signed Events API request carrying ``event``."""
    return signed(json.dumps(envelope(event, event_id)), "application/json", **signing)


def dm(user: str, text: str, channel: str = "D0LEARNER", **fields: Any) -> dict[str, Any]:
    """A ``message`` event in the learner's DM with the bot."""
    return {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": _ts(),
        "team": TEAM,
        **fields,
    }


def mention(user: str, text: str, channel: str = "C0GENERAL", **fields: Any) -> dict[str, Any]:
    """An ``app_mention`` event: ``<@bot> text`` in a channel."""
    return {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": _ts(),
        "team": TEAM,
        **fields,
    }


def file_shared(user: str, file: dict[str, Any], channel: str = "D0LEARNER") -> dict[str, Any]:
    """A ``file_shared`` event (Slack sends only the file id; the app asks ``files.info``)."""
    return {
        "type": "file_shared",
        "channel_id": channel,
        "file_id": file["id"],
        "user_id": user,
        "file": {"id": file["id"]},
        "event_ts": _ts(),
    }


def command_request(text: str, user: str, channel: str = "D0LEARNER", **signing: Any) -> SlackRequest:
    """A signed ``/learn`` slash command (a form post)."""
    form = {
        "token": "verification-token-unused",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else "general",
        "user_id": user,
        "user_name": f"learner-{user.lower()}",
        "command": "/learn",
        "text": text,
        "api_app_id": "A0LEARNBOT",
        "response_url": "http://127.0.0.1:1/commands/unused",
        "trigger_id": _next_id("trigger."),
    }
    return signed(urlencode(form), "application/x-www-form-urlencoded", **signing)


def action_payload(
    user: str, action_id: str, value: str, channel: str, message_ts: str, thread_ts: str | None = None
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button press under the bot's message."""
    message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": message_ts, "text": "an answer"}
    if thread_ts:
        message["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "username": f"learner-{user.lower()}", "team_id": TEAM},
        "api_app_id": "A0LEARNBOT",
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": _next_id("trigger."),
        "channel": {"id": channel, "name": "directmessage"},
        "message": message,
        "response_url": "http://127.0.0.1:1/actions/unused",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "learnbot_row_0",
                "value": value,
                "text": {"type": "plain_text", "text": "Helpful"},
                "action_ts": _ts(),
            }
        ],
    }


def action_request(payload: dict[str, Any], **signing: Any) -> SlackRequest:
    """A signed interactivity request: ``payload=<json>`` as a form post."""
    return signed(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **signing)


async def post(url: str, request: SlackRequest) -> tuple[int, str, dict[str, str]]:
    """Send a request to the app; returns status, body text and headers."""
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=request.body.encode(), headers=request.headers) as response:
            return response.status, await response.text(), dict(response.headers)
