"""The conversation core: ``Bot.handle()`` routes a message to a handler and returns replies.

Nothing here knows Slack or Telegram: adapters turn platform events into :class:`IncomingMessage`
and render :class:`Reply`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.messages import Button, IncomingMessage, Reply
from bot.store import Store
from knowledge.answer import Answer, AnswerChain
from knowledge.generation import Turn
from knowledge.loaders import detect_language
from knowledge.models import SearchFilter

log = logging.getLogger(__name__)
Handler = Callable[[IncomingMessage, str], Awaitable[list[Reply]]]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")

HELP = {
    "en": (
        "I answer questions about your courses, citing the lessons I used.\n"
        "Just type a question, or use:\n"
        "/courses - the courses you can study\n"
        "/help - this message"
    ),
    "zh": (
        "我根据课程材料回答问题，并注明出处。\n直接输入问题，或使用：\n/courses - 可学习的课程\n/help - 帮助"
    ),
}


@dataclass(frozen=True)
class Limits:
    """Input limits for one message."""

    max_chars: int = 4000
    memory_turns: int = 3


class Bot:
    """Routes messages: commands (``/start``, ``/help``, ``/courses``) and free-text questions.

    Example:
        >>> replies = await bot.handle(IncomingMessage("console", "me", "me", "What is MQTT?"))
        >>> replies[0].citations[0].lesson_title
    """

    def __init__(self, store: Store, answers: AnswerChain, limits: Limits | None = None) -> None:
        self.store = store
        self.answers = answers
        self.limits = limits or Limits()
        self._memory: dict[tuple[str, str, str], deque[Turn]] = defaultdict(
            lambda: deque(maxlen=self.limits.memory_turns)
        )
        self.commands: dict[str, Handler] = {
            "start": self._start,
            "help": self._help,
            "courses": self._courses,
        }

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        """Answer one message. Never raises: an internal error becomes an apology."""
        try:
            return await self._route(message)
        except Exception:
            log.exception("handler failed for learner message on %s", message.platform)
            return [Reply("Sorry, something went wrong on my side. Please try again in a moment.")]

    async def _route(self, message: IncomingMessage) -> list[Reply]:
        text = clean_input(message.text)
        if not text:
            return [Reply("Please type a question, or /help to see what I can do.")]
        if len(text) > self.limits.max_chars:
            return [
                Reply(
                    f"That message is {len(text):,} characters long; I read up to "
                    f"{self.limits.max_chars:,}. Please ask a shorter question."
                )
            ]
        if text.startswith("/"):
            name, _, argument = text[1:].partition(" ")
            name = name.split("@", 1)[0].lower()  # Telegram adds "@botname" in groups
            handler = self.commands.get(name)
            if handler is None:
                return [Reply(f"I don't know the command /{name}. Send /help to see the commands.")]
            return await handler(message, argument.strip())
        return await self._question(message, text)

    async def _start(self, message: IncomingMessage, argument: str) -> list[Reply]:
        self.store.learner_for(message.platform, message.user_id, message.display_name)
        name = message.display_name or "there"
        return [Reply(f"Hi {name}! " + HELP["en"])]

    async def _help(self, message: IncomingMessage, argument: str) -> list[Reply]:
        return [Reply(HELP["zh" if detect_language(argument) == "zh" else "en"])]

    async def _courses(self, message: IncomingMessage, argument: str) -> list[Reply]:
        courses = self.store.courses()
        if not courses:
            return [Reply("No courses are loaded yet.")]
        lines = ["Courses:"]
        for c in courses:
            lines.append(f"- {c['title']} ({c['course_id']}): {c['lesson_count']} lessons, {c['language']}")
        return [Reply("\n".join(lines))]

    async def _question(self, message: IncomingMessage, text: str) -> list[Reply]:
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        memory = self._memory[message.conversation]
        search_filter = self.search_filter_for(learner_id)
        answer: Answer = await asyncio.to_thread(self.answers.answer, text, search_filter, tuple(memory))
        question_id = self.store.log_question(
            learner_id=learner_id,
            platform=message.platform,
            question=text,
            answer=answer.answer,
            grounded=answer.grounded,
            language=answer.language,
            citations=[c.to_dict() for c in answer.citations],
            latency_ms=answer.latency_ms,
        )
        if answer.grounded:
            memory.append(Turn(text, answer.answer))
        buttons = [
            [
                Button("Helpful", f"feedback:{question_id}:up"),
                Button("Not helpful", f"feedback:{question_id}:down"),
            ]
        ]
        return [
            Reply(answer.answer, answer.citations, buttons, grounded=answer.grounded, question_id=question_id)
        ]

    def search_filter_for(self, learner_id: int) -> SearchFilter:
        """What this learner may retrieve: everything that is not premium (entitlements come later)."""
        return SearchFilter(allow_premium=False)


def clean_input(text: str) -> str:
    """Strip control characters and surrounding whitespace from a learner's message."""
    return _CONTROL.sub(" ", text or "").strip()
