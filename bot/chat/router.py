"""The conversation router: ``Router.handle()`` routes a message to a handler and returns replies.

Nothing here knows Slack or Telegram: adapters turn platform events into :class:`IncomingMessage`
and render :class:`Reply`. The handlers live beside this module (learning, premium, rights,
recommend, uploads); each gets the :class:`~bot.chat.context.ChatContext` built here once per message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot import streaming
from bot.chat.context import ChatContext, ConversationState, Handler
from bot.chat.learning import LearningChat
from bot.chat.preferences import PreferencesChat
from bot.chat.premium import PremiumChat
from bot.chat.recommend import RecommendChat
from bot.chat.rights import RightsChat
from bot.chat.texts import APOLOGY, BUTTON_EXPIRED, HELP
from bot.chat.topics import TopicSource
from bot.chat.uploads import IngestFn, UploadError, ingest_upload
from bot.learning import LearningLoop, LessonChunks
from bot.logs import logged_text
from bot.messages import Button, IncomingMessage, LearnerCache, Reply, StarRefunds
from bot.metrics import ANSWER_SECONDS, MESSAGES, REFUSALS
from bot.premium import Premium
from bot.store import Store
from bot.store.rights import EraseReport
from knowledge.answer import Answer, AnswerChain
from knowledge.generation import Turn
from knowledge.loaders import detect_language
from knowledge.models import SearchFilter
from recommender.service import Recommender

log = logging.getLogger(__name__)
_Capability = TypeVar("_Capability")
Notify = Callable[[Reply], Awaitable[None]]
"""Sends an interim reply (e.g. "Loading your course…") before the final ones."""
# Control and invisible characters, and lone surrogates ("\udcff" from a JSON escape or a bad decode):
# a surrogate cannot be encoded as UTF-8, so SQLite, logs and the terminal would all fail on it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
LINK_CODE_MINUTES = 10
LINK_MAX_FAILURES = 5  # wrong codes per account per LINK_FAILURE_MINUTES: guessing 1 in 10^8 stays hopeless
LINK_FAILURE_MINUTES = 10


@dataclass(frozen=True)
class Limits:
    """Per-message and per-learner limits."""

    max_chars: int = 4000
    memory_turns: int = 3
    questions_per_minute: int = 12
    max_upload_bytes: int = 20 * 1024 * 1024


class Router:
    """Routes messages: commands, button presses, admin uploads and free-text questions.

    ``recommender`` answers ``/next``; ``topics`` (the composition root hands in the recommender too)
    gives ``/courses`` and a lesson's first page the topics and level they name.

    Example:
        >>> replies = await router.handle(IncomingMessage("console", "me", "me", "What is MQTT?"))
        >>> replies[0].citations[0].lesson_title
    """

    def __init__(
        self,
        store: Store,
        answers: AnswerChain,
        limits: Limits | None = None,
        ingest: IngestFn | None = None,
        admins: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
        lesson_chunks: LessonChunks | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        recommender: Recommender,
        topics: TopicSource | None = None,
    ) -> None:
        self.store = store
        self.answers = answers
        self.limits = limits or Limits()
        self.ingest = ingest
        self.configured_admins = admins
        self.clock = clock
        self.now = now
        """The bot's wall clock (lessons, quizzes, progress, entitlements)."""
        self.state = ConversationState(self.limits.memory_turns)
        self._front_doors: list[object] = []  # the chat adapters attached, in order
        self.commands: dict[str, Handler] = {
            "start": self._start,
            "help": self._help,
            "ask": self._ask,
            "link": self._link,
        }
        loop = LearningLoop(store, lesson_chunks, clock=lambda: self.now())
        self.learning = LearningChat(store, loop, lambda: self.now(), self.state, topics)
        self.commands.update(self.learning.commands())  # /courses /enroll /lesson /done /quiz /progress
        self.preferences = PreferencesChat(store)  # /settings, /pause, /resume
        self.commands.update(self.preferences.commands())
        self.buttons: dict[str, Handler] = {"feedback": self._feedback, **self.learning.buttons()}
        """Button handlers by callback-data prefix (``prefix:rest``); each gets ``rest``."""
        self.premium = PremiumChat(
            store, Premium(store), self.is_admin, lambda: self.now(), lambda: self.capable(StarRefunds)
        )
        self.commands.update(self.premium.commands())  # /premium /terms /paysupport /refund
        self.buttons.update(self.premium.buttons())
        self.rights = RightsChat(store, self.forget)  # /mydata, /forget
        self.commands.update(self.rights.commands())
        self.buttons.update(self.rights.buttons())
        self.recommend = RecommendChat(store, self.learning, self.is_admin, recommender)
        self.commands.update(self.recommend.commands())  # /next /digest
        self.buttons.update(self.recommend.buttons())

    async def handle(self, message: IncomingMessage, notify: Notify | None = None) -> list[Reply]:
        """Answer one message. Never raises: an internal error becomes an apology.

        A delivery the platform sends again (same ``delivery_id``) gets no reply at all. ``notify``,
        when given, receives interim replies of slow work (an admin's course upload) as it goes.
        """
        try:
            message = without_surrogates(message)
            if message.delivery_id and not self.store.first_delivery(message.platform, message.delivery_id):
                log.info("duplicate delivery %s on %s ignored", message.delivery_id, message.platform)
                return []
            ctx = self._note_chat(message)
            MESSAGES.labels(message.platform).inc()
            log.info(
                "message on %s from learner %s: %s",
                message.platform,
                ctx.learner_id,
                logged_text(message.text, message.callback_data, message.file),
            )
            return await self._route(ctx, notify)
        except Exception:
            log.exception(
                "handler failed for a message on %s from user %s", message.platform, message.user_id
            )
            return [Reply(APOLOGY)]

    def attach(self, adapter: object) -> None:
        """Take a chat front door's capabilities into the conversation (the composition root calls it).

        A :class:`~bot.messages.StarRefunds` adapter carries the admin's ``/refund``; a
        :class:`~bot.messages.LearnerCache` hears of every erase.
        """
        self._front_doors.append(adapter)

    def capable(self, kind: type[_Capability]) -> _Capability | None:
        """The front door attached last that has the capability ``kind`` (a protocol), if any."""
        return next((door for door in reversed(self._front_doors) if isinstance(door, kind)), None)

    def forget(self, report: EraseReport) -> int:
        """Drop an erased learner from memory: conversation state, the fitted recommender, adapters' caches.

        Returns the number of conversations cleared (see :meth:`ConversationState.forget`).
        """
        chats = set(report.chats) | set(report.identities)  # a direct chat's id is often the user's id
        cleared = self.state.forget(report.learner_id, chats)
        self.recommend.recommender.forget()  # refitted without the learner on next use
        for door in self._front_doors:
            if isinstance(door, LearnerCache):
                door.forget(report)
        return cleared

    def _note_chat(self, message: IncomingMessage) -> ChatContext:
        """Resolve the learner once, and remember where they talk to the bot (pushes go there) and when."""
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        now = self.now()
        self.store.record_chat(learner_id, message.platform, message.chat_id, message.direct, now)
        if message.team_id:  # organisation grants apply through the learner's workspace
            self.store.record_team(learner_id, message.platform, message.team_id, now)
        return ChatContext(message, learner_id, now, self.state)

    async def _route(self, ctx: ChatContext, notify: Notify | None = None) -> list[Reply]:
        message = ctx.message
        if message.payment is not None:
            return await self.premium.on_payment(ctx)
        if message.callback_data is not None:
            return await self._button(ctx)
        if message.file is not None:
            return await self._upload(ctx, notify)
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
            return await handler(ctx, argument.strip())
        answered = await self.learning.answer_text(ctx, text)
        if answered is not None:
            return answered
        return await self._question(ctx, text)

    def is_admin(self, message: IncomingMessage) -> bool:
        """Whether the sender is an admin (configured list or ``learnbot admin add``)."""
        key = f"{message.platform}:{message.user_id}"
        return key in self.configured_admins or self.store.is_admin(message.platform, message.user_id)

    # -- commands --------------------------------------------------------------------------

    async def _start(self, ctx: ChatContext, argument: str) -> list[Reply]:
        name = ctx.message.display_name or "there"
        return [Reply(f"Hi {name}! " + HELP["en"])]

    async def _help(self, ctx: ChatContext, argument: str) -> list[Reply]:
        language = self.store.learner_settings(ctx.learner_id).language
        chinese = language == "zh" or (
            not language
            and (ctx.message.locale.lower().startswith("zh") or detect_language(argument) == "zh")
        )
        return [Reply(HELP["zh" if chinese else "en"])]

    async def _ask(self, ctx: ChatContext, argument: str) -> list[Reply]:
        if not argument:
            return [Reply("Ask me something after /ask, for example: /ask what is phishing?")]
        return await self._question(ctx, argument)

    async def _link(self, ctx: ChatContext, argument: str) -> list[Reply]:
        message, learner_id = ctx.message, ctx.learner_id
        now = datetime.now(UTC)
        if not argument:
            code = f"{secrets.randbelow(10**8):08d}"
            expires = (now + timedelta(minutes=LINK_CODE_MINUTES)).isoformat(timespec="seconds")
            self.store.create_link_code(learner_id, code, expires)
            return [
                Reply(
                    f"Your link code is {code}. Within {LINK_CODE_MINUTES} minutes, send "
                    f"/link {code} from your other account (Slack or Telegram) to join them. "
                    "The code works once."
                )
            ]
        since = (now - timedelta(minutes=LINK_FAILURE_MINUTES)).isoformat(timespec="seconds")
        if self.store.link_failures(message.platform, message.user_id, since) >= LINK_MAX_FAILURES:
            return [
                Reply(
                    f"Too many wrong link codes. Wait {LINK_FAILURE_MINUTES} minutes, then send "
                    "/link CODE again with a fresh code from your other account."
                )
            ]
        joined = self.store.redeem_link_code(
            argument.strip(), message.platform, message.user_id, now.isoformat(timespec="seconds")
        )
        if joined is None:
            self.store.record_link_failure(
                message.platform, message.user_id, now.isoformat(timespec="seconds"), since
            )
            return [
                Reply(
                    "That link code is unknown, already used or expired. Send /link on your other "
                    "account to get a new one."
                )
            ]
        ctx.state.reset_window(learner_id)
        return [Reply("Done: this account and your other account are now one learner.")]

    # -- buttons and files -----------------------------------------------------------------

    async def _button(self, ctx: ChatContext) -> list[Reply]:
        prefix, _, rest = (ctx.message.callback_data or "").partition(":")
        handler = self.buttons.get(prefix)
        if handler is None:
            return [Reply(BUTTON_EXPIRED)]
        return await handler(ctx, rest)

    async def _feedback(self, ctx: ChatContext, rest: str) -> list[Reply]:
        question_id, _, value = rest.partition(":")
        if (
            question_id.isdigit()
            and value in ("up", "down")
            and self.store.record_feedback(int(question_id), ctx.learner_id, value)
        ):
            return [Reply("Thanks for the feedback!")]
        return [Reply(BUTTON_EXPIRED)]

    async def _upload(self, ctx: ChatContext, notify: Notify | None = None) -> list[Reply]:
        message = ctx.message
        assert message.file is not None
        if not self.is_admin(message):
            return [Reply("Only admins can load course material. Ask an admin to add you.")]
        if self.ingest is None:
            return [Reply("Course uploads are not enabled here.")]
        try:
            return [await ingest_upload(message.file, self.limits.max_upload_bytes, self.ingest, notify)]
        except UploadError as exc:
            return [Reply(f"I could not load that file: {exc}")]

    # -- questions -------------------------------------------------------------------------

    def _rate_limited(self, learner_id: int) -> float:
        """Seconds to wait before the next question, or 0."""
        window = self.state.window(learner_id)
        now = self.clock()
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.limits.questions_per_minute:
            return 60 - (now - window[0])
        window.append(now)
        return 0.0

    async def _question(self, ctx: ChatContext, text: str) -> list[Reply]:
        message, learner_id = ctx.message, ctx.learner_id
        wait = self._rate_limited(learner_id)
        if wait:
            return [Reply(f"You're asking faster than I can read. Please try again in {wait:.0f} seconds.")]
        memory = ctx.state.memory(message.conversation)
        search_filter = self.search_filter_for(learner_id)
        entitled = frozenset(search_filter.premium_tracks)
        history = tuple(turn for turn, tracks in memory if tracks <= entitled)
        stream = streaming.current()  # an adapter that shows the answer as it is written
        hooks = (stream.on_text, stream.on_wait) if stream else ()
        with ANSWER_SECONDS.time():
            answer: Answer = await asyncio.to_thread(
                self.answers.answer, text, search_filter, history, *hooks
            )
        if not answer.grounded:
            REFUSALS.inc()
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
            memory.append((Turn(text, answer.answer), entitled))
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
        """What this learner may retrieve: free content plus the premium tracks they are entitled to."""
        tracks = self.store.entitled_tracks(learner_id, self.now())
        return SearchFilter(allow_premium=False, premium_tracks=tuple(sorted(tracks)))


def without_surrogates(message: IncomingMessage) -> IncomingMessage:
    """The message with lone surrogates in its names and ids replaced by U+FFFD (the text: see clean_input).

    A display name ending in a lone surrogate would otherwise fail every store write of that learner.
    """
    changes = {
        f.name: _SURROGATES.sub("\ufffd", value)
        for f in fields(message)
        if f.name != "text"  # clean_input removes them from the text
        and isinstance(value := getattr(message, f.name), str)
        and _SURROGATES.search(value)
    }
    return replace(message, **changes) if changes else message


def clean_input(text: str) -> str:
    """Strip control characters, lone surrogates and surrounding whitespace from a learner's message."""
    return _CONTROL.sub(" ", text or "").strip()
