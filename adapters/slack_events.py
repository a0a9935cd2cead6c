"""Reading what Slack sends: message text as typed, ``/learn`` words, delivery keys, workspace ids.

The Slack adapter's translation helpers (:mod:`adapters.slack` wires them to bolt listeners), and
:class:`Recent`, the small LRU it remembers deliveries, profiles and DM channels in.

Example:
    >>> plain_text("<@U0BOT> what is <https://example.com|this> &amp; that?")
    'what is this & that?'
    >>> command_text("quiz security", {"quiz": ...})
    '/quiz security'
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

# `/learn <word> …` words that mean a command; anything else after /learn is a question
SUBCOMMANDS = frozenset({"ask", "help", "courses", "link", "next", "quiz", "progress", "start"})
HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")

_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>)+\s*")
_ANGLE = re.compile(r"<([^<>]*)>")
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
"""A user id (``U…``, ``W…``), not a conversation id (``C…``, ``D…``, ``G…``)."""


def plain_text(slack_text: str) -> str:
    """What a person typed, from Slack's encoded message text (mentions, links, ``&amp;``)."""

    def unwrap(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith(("@", "#")):
            return (target[0] + label) if label else target
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    text = _ANGLE.sub(unwrap, _LEADING_MENTIONS.sub("", slack_text or ""))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def command_text(text: str, commands: Mapping[str, Any]) -> str:
    """``/learn X rest`` as the core's ``/X rest``; ``/learn <free text>`` as the question itself."""
    word, _, rest = text.strip().partition(" ")
    name = word.lower()
    if not name:
        return "/help"
    if name == "ask" and "ask" not in commands:
        return rest.strip()
    if name in SUBCOMMANDS or name in commands:
        return f"/{name} {rest.strip()}".strip()
    return text.strip()


class Recent:
    """A bounded, ordered record of keys seen lately, with optional values (an LRU)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def add(self, key: str, value: Any = True) -> bool:
        """Remember ``key``; False if it was already there."""
        if key in self._items:
            self._items.move_to_end(key)
            return False
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return True

    def get(self, key: str) -> Any:
        """The value stored with ``key``, or None."""
        return self._items.get(key)

    def discard(self, key: str) -> None:
        """Forget ``key`` if it is there."""
        self._items.pop(key, None)


def delivery_key(body: Mapping[str, Any]) -> str:
    """What identifies one delivery (an event id, or a command's or action's trigger id); may be empty."""
    if body.get("event_id"):
        return str(body["event_id"])
    if body.get("trigger_id"):
        return f"{body.get('type') or 'command'}:{body['trigger_id']}"
    return ""


def team_of(body: Mapping[str, Any]) -> str:
    """The workspace the request came from (an organisation grant to it entitles its members)."""
    team = body.get("team_id") or body.get("team") or (body.get("user") or {}).get("team_id") or ""
    return str(team.get("id", "") if isinstance(team, Mapping) else team)


def bot_users(body: Mapping[str, Any]) -> set[str]:
    """The bot users the request was authorised for (their own messages are not for the bot)."""
    return {a.get("user_id", "") for a in body.get("authorizations") or [] if a.get("is_bot")}
