"""Block Kit rendering of a :class:`Reply` (answer, numbered sources, buttons, fallback text), and posting it.

Slack's limits shape this module: a section's text is at most 3,000 characters, a message at most
50 blocks, an actions block at most 25 elements, a button label 75 characters and its value 2,000.

Example:
    >>> message = render(Reply("Phishing is <bait> & switch. [1]", citations))
    >>> await client.chat_postMessage(channel="D1", **message)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.messages import Button, Reply
from knowledge.answer import Citation
from knowledge.models import location

log = logging.getLogger(__name__)

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
MAX_BUTTONS_PER_BLOCK = 25
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
CONTEXT_TEXT_LIMIT = 3000
FALLBACK_LIMIT = 4000  # chat.postMessage accepts 40,000, but notifications show far less
ACTION_PREFIX = "learnbot_"
CANNOT_POST_HERE = ("channel_not_found", "not_in_channel", "is_archived")

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str) -> str:
    """Escape an answer and turn the common Markdown a generator writes into Slack mrkdwn."""
    text = escape(text)
    text = _HEADING.sub(r"*\1*", text)
    text = _BOLD.sub(r"*\1*", text)
    return _LINK.sub(r"<\2|\1>", text)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut text into pieces of at most ``limit`` characters, at a paragraph, line or word if possible."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        # never cut inside an escape such as "&amp;"
        amp = window.rfind("&", max(cut - 5, 0), cut)
        if amp > 0 and ";" not in window[amp:cut]:
            cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def sources_text(citations: Sequence[Citation]) -> str:
    """Numbered sources, one a line: ``[1] Lesson title > section``."""
    lines = [f"[{c.n}] {location(c.lesson_title, c.heading)}" for c in citations]
    return "\n".join(lines)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _button(button: Button, action_id: str) -> dict[str, Any] | None:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": _truncate(button.label or "…", BUTTON_LABEL_LIMIT)},
    }
    if button.url:
        element["url"] = button.url
    if button.data:
        if len(button.data) > BUTTON_VALUE_LIMIT:
            log.warning("dropped a button whose callback data is longer than Slack allows")
            return None
        element["value"] = button.data
    return element


def actions_blocks(buttons: Sequence[Sequence[Button]], max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """One actions block per row of buttons; ``action_id`` is unique within the message."""
    blocks: list[dict[str, Any]] = []
    for r, row in enumerate(buttons):
        elements = [
            element
            for c, button in enumerate(row[:MAX_BUTTONS_PER_BLOCK])
            if (element := _button(button, f"{ACTION_PREFIX}{r}_{c}")) is not None
        ]
        if elements:
            blocks.append({"type": "actions", "block_id": f"{ACTION_PREFIX}row_{r}", "elements": elements})
    return blocks[:max_blocks]


def fallback_text(reply: Reply) -> str:
    """The plain-text version Slack shows in notifications and to clients without blocks."""
    text = reply.text.strip()
    if reply.citations:
        text += "\n\nSources:\n" + sources_text(reply.citations)
    return _truncate(escape(text), FALLBACK_LIMIT) or "(image)"


def render(reply: Reply) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}`` ready for ``chat.postMessage`` or ``chat.update``.

    The image, if any, is not part of the message: see :func:`upload_image`.
    """
    tail: list[dict[str, Any]] = []
    if reply.citations:
        sources = _truncate(escape("Sources:\n" + sources_text(reply.citations)), CONTEXT_TEXT_LIMIT)
        tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": sources}]})
    tail.extend(actions_blocks(reply.buttons, max_blocks=MAX_BLOCKS - len(tail) - 1))

    if reply.invoice is not None:  # Slack has no payments: say where to buy instead
        reply = replace(reply, text=f"{reply.text}\n\n{reply.invoice.fallback}", invoice=None)
    room = MAX_BLOCKS - len(tail)
    pieces = split_text(to_mrkdwn(reply.text))
    if len(pieces) > room:
        log.warning("answer too long for one Slack message: %d sections cut to %d", len(pieces), room)
        pieces = pieces[:room]
        pieces[-1] = _truncate(pieces[-1], SECTION_LIMIT - 1) + "…"
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in pieces]
    return {"text": fallback_text(reply), "blocks": sections + tail}


async def upload_image(
    client: Any, channel: str, image: bytes, thread_ts: str | None = None, title: str = "Chart"
) -> None:
    """Share a PNG in the conversation (``files_upload_v2``: get an upload URL, upload, complete)."""
    await client.files_upload_v2(
        channel=channel, thread_ts=thread_ts or None, file=image, filename="chart.png", title=title
    )


@dataclass(frozen=True)
class Where:
    """Where replies go.

    A channel, a thread in it, a fallback channel if the bot cannot post there, the placeholder's ts
    the first reply replaces, and the one user who alone should see them (``ephemeral``).
    """

    channel: str
    thread: str | None = None
    fallback: str | None = None
    ts: str | None = None
    ephemeral: str | None = None


async def post_placeholder(client: Any, where: Where, text: str | None) -> Where:
    """Post a short "looking it up" ``text``; returns where it landed, with its ts to replace."""
    if text is None:
        return where
    try:
        sent = await client.chat_postMessage(channel=where.channel, thread_ts=where.thread, text=text)
    except SlackApiError as error:
        if not where.fallback or error.response.get("error") not in CANNOT_POST_HERE:
            raise
        sent = await client.chat_postMessage(channel=where.fallback, text=text)
        return Where(sent["channel"], ts=sent["ts"])
    return Where(sent["channel"], where.thread, ts=sent["ts"])


async def deliver(client: Any, where: Where, replies: Sequence[Reply]) -> None:
    """The first reply replaces the placeholder (``where.ts``, if any); the rest follow it."""
    if not replies and where.ts:
        await client.chat_delete(channel=where.channel, ts=where.ts)
    for i, reply in enumerate(replies):
        message = render(reply)
        if not message["blocks"]:
            del message["blocks"]
        if i == 0 and where.ts:
            await client.chat_update(channel=where.channel, ts=where.ts, **message)
        elif where.ephemeral:
            await client.chat_postEphemeral(
                channel=where.channel, user=where.ephemeral, thread_ts=where.thread, **message
            )
        else:
            sent = await client.chat_postMessage(channel=where.channel, thread_ts=where.thread, **message)
            where = Where(sent["channel"], where.thread)
        if reply.image:
            await upload_image(client, where.channel, reply.image, where.thread)
        if reply.document is not None:
            await client.files_upload_v2(
                channel=where.channel,
                thread_ts=where.thread or None,
                file=reply.document.content,
                filename=reply.document.name,
                title=reply.document.name,
            )
