"""What Slack sends to an app, built and signed for tests: Events API envelopes, slash commands, actions.

Each request is signed ``v0`` with HMAC-SHA256 like ``slack_sdk.signature``, so the real bolt app
verifies it; :func:`post` sends one to the app. The Web API side is :class:`adapters.fakes.slack.FakeSlack`
(which re-exports everything here).

Example:
    >>> status, body, headers = await post(adapter.url, event_request(dm("U1", "What is phishing?")))
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

SIGNING_SECRET = "test-signing-secret-not-a-secret"
TEAM = "T0TEAM"
BOT_USER = "U0LEARNBOT"
BOT_ID = "B0LEARNBOT"

_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    """A fresh id such as ``F000012`` (files, events, trigger ids)."""
    return f"{prefix}{next(_ids):06d}"


def ts() -> str:
    """A fresh message timestamp (``seconds.sequence``), unique within the run."""
    return f"{int(time.time())}.{next(_ids):06d}"


@dataclass
class SlackRequest:
    """An HTTP request as Slack would send it to the app: raw body and headers."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)


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
        "event_id": event_id or next_id("Ev"),
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
        "ts": ts(),
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
        "ts": ts(),
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
        "event_ts": ts(),
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
        "trigger_id": next_id("trigger."),
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
        "trigger_id": next_id("trigger."),
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
                "action_ts": ts(),
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
