r"""Telegram rendering: a :class:`Reply` becomes HTML messages with an inline keyboard.

Telegram's HTML parse mode takes only a few tags and refuses a message whose tags do not
balance, so the only markup here is a short ``<b>`` heading that never contains a space or a line
break; every split happens between blocks, lines, sentences or words of already escaped text,
and a hard cut (no space in 4096 characters, as in Chinese) never lands inside a tag or entity.

Example:
    >>> [(html, keyboard)] = render(Reply("Use a passphrase.", citations))
    >>> html
    'Use a passphrase.\n\n<b>Sources</b>\n[1] Passwords &gt; Passphrases'
"""

from __future__ import annotations

import html
import logging
import re
from typing import NamedTuple

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Button, Reply
from knowledge.models import location

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 4096  # Telegram's limit for one message's text, in UTF-16 code units
CAPTION_LIMIT = 1024  # ... and for a photo's caption
CALLBACK_DATA_LIMIT = 64  # bytes of callback_data
SOURCES_HEADING = {"en": "Sources", "zh": "来源"}
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.M)
_BOLD = re.compile(r"\*\*([^*\n]+?)\*\*")
_CODE = re.compile(r"`([^`\n]+)`")
_TAG = re.compile(r"</?(?:b|pre|code)>")
# Where to prefer cutting a block that is too long, best first; the cut goes after the separator.
_SEPARATORS = ("\n\n", "\n", "。", "！", "？", ". ", "; ", ", ", "，", " ")


class TelegramMessage(NamedTuple):
    """One message to send: HTML text and the inline keyboard under it, if any."""

    html: str
    reply_markup: InlineKeyboardMarkup | None


def render(reply: Reply, limit: int = MESSAGE_LIMIT) -> list[TelegramMessage]:
    """The messages that carry ``reply``: text and sources, split to fit; the keyboard on the last.

    A reply with no text and no sources gives no messages (an image alone goes as a photo).
    """
    parts = split_html(reply_blocks(reply, limit), limit)
    markup = keyboard(reply.buttons)
    return [TelegramMessage(part, markup if i == len(parts) - 1 else None) for i, part in enumerate(parts)]


def reply_blocks(reply: Reply, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The reply as HTML blocks: the escaped answer's paragraphs, then a numbered "Sources" block.

    A fenced code block becomes one ``<pre>`` block (kept whole, indentation and blank lines too) and
    a Markdown heading line, ``**bold**`` or ```code``` a short tag, but only in a block that fits one
    message: a block that has to be cut stays plain escaped text, so a cut never splits a tag.
    """
    blocks: list[str] = []
    for is_code, segment in _fenced(reply.text):
        if is_code:
            lines = segment.strip("\n").split("\n")
            closed = len(lines) > 1 and lines[-1].strip().startswith(lines[0].strip()[:3])
            code = "\n".join(lines[1:-1] if closed else lines[1:])
            block = f"<pre>{html.escape(code, quote=False)}</pre>"
            blocks.append(
                block if utf16_len(block) <= limit else html.escape(segment.strip("\n"), quote=False)
            )
            continue
        for p in segment.split("\n\n"):
            if p.strip():
                escaped = html.escape(p.strip("\n"), quote=False)
                marked = _inline_markup(escaped)
                blocks.append(marked if utf16_len(marked) <= limit else escaped)
    if reply.citations:
        heading = SOURCES_HEADING["zh" if _mostly_chinese(reply.text) else "en"]
        lines = [f"<b>{heading}</b>"]
        for c in reply.citations:
            lines.append(html.escape(f"[{c.n}] {location(c.lesson_title, c.heading)}", quote=False))
        blocks.append("\n".join(lines))
    return blocks


def _fenced(text: str) -> list[tuple[bool, str]]:
    """The text as ``(is_code, segment)`` runs; a code fence runs to its closing line (or the end)."""
    runs: list[tuple[bool, str]] = []
    prose: list[str] = []
    code: list[str] = []
    fence = ""
    for line in text.split("\n"):
        if fence:
            code.append(line)
            if line.strip().startswith(fence) and set(line.strip()) == {fence[0]}:
                runs.append((True, "\n".join(code)))
                code, fence = [], ""
            continue
        match = _FENCE.match(line)
        if match:
            if prose:
                runs.append((False, "\n".join(prose)))
                prose = []
            fence, code = match.group(1), [line]
        else:
            prose.append(line)
    if code:
        runs.append((True, "\n".join(code)))
    if prose:
        runs.append((False, "\n".join(prose)))
    return runs


def _inline_markup(escaped: str) -> str:
    """Markdown a lesson's text carries, as Telegram HTML: heading lines, bold and inline code.

    Telegram refuses an entity inside ``<code>``, so bold is marked only outside code spans, and a
    heading line's own code spans stay plain.
    """
    if _HEADING.fullmatch(escaped.strip()):
        return _HEADING.sub(r"<b>\1</b>", escaped.strip().replace("`", ""))
    parts = _CODE.split(escaped)  # prose, code, prose, code, ...
    return "".join(
        f"<code>{part}</code>" if n % 2 else _HEADING.sub(r"<b>\1</b>", _BOLD.sub(r"<b>\1</b>", part))
        for n, part in enumerate(parts)
    )


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard: URL buttons open ``url``, the others send ``data`` back as a callback.

    A button whose data would not fit Telegram's 64 bytes is left out (and logged) rather than cut,
    since cut data would mean something else to the core.
    """
    markup: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = []
        for b in row:
            if b.url:
                buttons.append(InlineKeyboardButton(b.label, url=b.url))
            elif b.data and len(b.data.encode()) <= CALLBACK_DATA_LIMIT:
                buttons.append(InlineKeyboardButton(b.label, callback_data=b.data))
            else:
                log.warning("button %r left out: callback data must be 1-64 bytes", b.label)
        if buttons:
            markup.append(buttons)
    return InlineKeyboardMarkup(markup) if markup else None


def split_html(blocks: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack HTML blocks into messages of at most ``limit`` UTF-16 units, joined by blank lines.

    Blocks are kept whole where they fit; a longer block is cut at the best separator.
    """
    pieces: list[str] = []
    for block in blocks:
        pieces.extend(_cut(block, limit))
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if utf16_len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def plain_text(markup: str) -> str:
    """The text of rendered HTML without its tags, for resending without a parse mode."""
    return html.unescape(_TAG.sub("", markup))


def _cut(block: str, limit: int) -> list[str]:
    """Cut one block into pieces that fit, preferring paragraph, line, sentence and word ends."""
    pieces: list[str] = []
    rest = block
    while utf16_len(rest) > limit:
        window = rest[: _fitting_prefix(rest, limit)]
        ends = [(window.rfind(s), s) for s in _SEPARATORS]
        # The best kind of separator in the window's second half, else the latest of any kind.
        good = [at + len(s) for at, s in ends if at >= len(window) // 2]
        cut = good[0] if good else max((at + len(s) for at, s in ends if at > 0), default=0)
        if cut == 0:
            cut = _safe_hard_cut(window)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if rest.strip():
        pieces.append(rest)
    return pieces


def _fitting_prefix(text: str, limit: int) -> int:
    """The number of characters of ``text`` whose UTF-16 length is at most ``limit``."""
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def _safe_hard_cut(window: str) -> int:
    """Cut at the end of ``window`` unless that is inside a tag (``<...>``) or entity (``&...;``)."""
    cut = len(window)
    if window.rfind("<") > window.rfind(">"):
        cut = window.rfind("<")
    if window.rfind("&", 0, cut) > window.rfind(";", 0, cut):
        cut = window.rfind("&", 0, cut)
    return max(cut, 1)


def _mostly_chinese(text: str) -> bool:
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return han > 0 and han >= 0.3 * len(text.replace(" ", ""))
