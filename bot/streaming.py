"""How an adapter watches an answer being written: a sink set around ``Bot.handle()``.

An adapter that can show text as it grows (the console; Slack's streaming methods; Telegram's
drafts or edited messages) sets an :class:`AnswerStream` for the message it hands the core. The core
passes the stream's callbacks to the answer chain, which calls them from its worker thread; the
callbacks therefore only hand the text over (thread-safe) and never block. The final :class:`Reply`
still arrives as usual, with the checked text, citations and buttons, and replaces what was shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from knowledge.generation import clean_answer

AHEAD = {
    "en": "{n} question(s) ahead of yours; I'll answer as soon as I can.",
    "zh": "前面还有 {n} 个问题，我会尽快回答你。",
}


@dataclass(frozen=True)
class AnswerStream:
    """Callbacks for one answer: ``on_text(text so far)``, ``on_wait(questions ahead)``."""

    on_text: Callable[[str], None]
    on_wait: Callable[[int], None]


_CURRENT: ContextVar[AnswerStream | None] = ContextVar("answer_stream", default=None)


def current() -> AnswerStream | None:
    """The stream set for the message being handled, if its adapter streams."""
    return _CURRENT.get()


@contextmanager
def streaming(stream: AnswerStream) -> Iterator[None]:
    """Set ``stream`` for the answers handled inside the block (``asyncio.to_thread`` carries it)."""
    token = _CURRENT.set(stream)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def readable(raw: str) -> str:
    """The model's text so far as a learner may see it: role tags and invented turns removed."""
    return clean_answer(raw, cut_off=False)


def to_loop(loop: asyncio.AbstractEventLoop, show: Callable[[str], object]) -> Callable[[str], None]:
    """A thread-safe ``on_text`` that hands the latest readable text to ``show`` on the event loop."""

    def on_text(raw: str) -> None:
        text = readable(raw)
        if text:
            loop.call_soon_threadsafe(show, text)

    return on_text
