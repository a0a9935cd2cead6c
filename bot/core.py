"""The conversation core: ``Bot.handle()`` routes a message to a handler and returns replies.

Nothing here knows Slack or Telegram: adapters turn platform events into :class:`IncomingMessage`
and render :class:`Reply`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import streaming
from bot.learning import LearningLoop, LessonChunks
from bot.learning_handlers import LearningChat
from bot.logs import logged_text
from bot.messages import Button, IncomingMessage, Reply
from bot.metrics import ANSWER_SECONDS, MESSAGES, REFUSALS
from bot.premium import Premium
from bot.premium_handlers import PremiumChat
from bot.recommend_handlers import RecommendChat
from bot.rights_handlers import RightsChat
from bot.store import Store
from bot.store.rights import EraseReport
from bot.uploads import IngestFn, UploadError, ingest_upload
from knowledge.answer import Answer, AnswerChain
from knowledge.generation import Turn
from knowledge.loaders import detect_language
from knowledge.models import SearchFilter

log = logging.getLogger(__name__)
Handler = Callable[[IncomingMessage, str], Awaitable[list[Reply]]]
Notify = Callable[[Reply], Awaitable[None]]
"""Sends an interim reply (e.g. "Loading your course…") before the final ones."""
# Control and invisible characters, and lone surrogates ("\udcff" from a JSON escape or a bad decode):
# a surrogate cannot be encoded as UTF-8, so SQLite, logs and the terminal would all fail on it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
LINK_CODE_MINUTES = 10
LINK_MAX_FAILURES = 5  # wrong codes per account per LINK_FAILURE_MINUTES: guessing 1 in 10^8 stays hopeless
LINK_FAILURE_MINUTES = 10

HELP = {
    "en": (
        "I answer questions about your courses, citing the lessons I used, and help you learn them.\n"
        "Just type a question, or use:\n"
        "/ask QUESTION - ask about the course material\n"
        "/courses - the courses you can study\n"
        "/enroll COURSE - join a course\n"
        "/lesson - your next lesson (/done when you have finished it)\n"
        "/quiz - a question to practise; answers come back when you are about to forget them\n"
        "/progress - lessons done, quiz accuracy, reviews due, streak\n"
        "/settings - time zone and active hours; /pause and /resume quizzes and reminders\n"
        "/next - what to study next, and why\n"
        "/link - join your Slack and Telegram accounts\n"
        "/mydata - everything stored about you; /forget - erase it\n"
        "/premium - premium tracks (/terms, /paysupport for payments)\n"
        "/help - this message"
    ),
    "zh": (
        "我根据课程材料回答问题，并注明出处，也陪你学习课程。\n直接输入问题，或使用：\n"
        "/ask 问题 - 提问\n/courses - 可学习的课程\n/enroll 课程 - 加入课程\n"
        "/lesson - 下一课（学完发送 /done）\n/quiz - 练习题\n/progress - 学习进度\n"
        "/settings - 时区与提醒时段；/pause、/resume 暂停或恢复提醒\n"
        "/link - 关联 Slack 与 Telegram 账号\n/mydata - 导出我的数据；/forget - 删除我的数据\n"
        "/premium - 高级课程（/terms 购买条款，/paysupport 支付帮助）\n/help - 帮助"
    ),
}
COMMANDS = {
    "start": "Start",
    "help": "What I can do",
    "ask": "Ask about the course",
    "courses": "Courses",
    "enroll": "Join a course",
    "lesson": "Your next lesson",
    "next": "What to study next",
    "done": "Mark the current lesson done",
    "quiz": "Practise with a quiz question",
    "progress": "Your progress",
    "settings": "Time zone and active hours",
    "pause": "Pause quizzes and reminders",
    "resume": "Resume quizzes and reminders",
    "link": "Join your Slack and Telegram accounts",
    "digest": "Your team's weekly digest (managers)",
    "mydata": "Everything stored about you, as a file",
    "forget": "Erase your data",
    "premium": "Premium tracks",
    "terms": "Terms of purchase",
    "paysupport": "Help with a payment",
}
"""The commands the core answers, for the adapters' command menus."""


@dataclass(frozen=True)
class Limits:
    """Per-message and per-learner limits."""

    max_chars: int = 4000
    memory_turns: int = 3
    questions_per_minute: int = 12
    max_upload_bytes: int = 20 * 1024 * 1024


@dataclass
class _Window:
    times: deque[float] = field(default_factory=deque)


class Bot:
    """Routes messages: commands, button presses, admin uploads and free-text questions.

    Example:
        >>> replies = await bot.handle(IncomingMessage("console", "me", "me", "What is MQTT?"))
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
        embedder: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.answers = answers
        self.limits = limits or Limits()
        self.ingest = ingest
        self.configured_admins = admins
        self.clock = clock
        # Each remembered turn carries the premium tracks its answer could draw on; a later question
        # sees it only while the asker is entitled to all of them (access ended, or another learner).
        self._memory: dict[tuple[str, str, str], deque[tuple[Turn, frozenset[str]]]] = defaultdict(
            lambda: deque(maxlen=self.limits.memory_turns)
        )
        self._windows: dict[int, _Window] = defaultdict(_Window)
        self.forget_hooks: list[Callable[[EraseReport], None]] = []
        """Called with each erase's report, so the parts that cache learners in memory (an adapter's
        profile cache, the fitted recommender) drop them at once, not at the next restart."""
        self.commands: dict[str, Handler] = {
            "start": self._start,
            "help": self._help,
            "courses": self._courses,
            "ask": self._ask,
            "link": self._link,
        }
        loop = LearningLoop(store, lesson_chunks, clock=lambda: self.learning.now())
        self.learning = LearningChat(store, loop, now)
        self.commands.update(self.learning.commands())
        self.buttons: dict[str, Handler] = {"feedback": self._feedback, **self.learning.buttons()}
        """Button handlers by callback-data prefix (``prefix:rest``); each gets ``rest``."""
        self.premium = PremiumChat(store, Premium(store), self.is_admin, lambda: self.learning.now())
        self.commands.update(self.premium.commands())  # /premium /terms /paysupport /refund
        self.buttons.update(self.premium.buttons())
        self.rights = RightsChat(self)  # /mydata, /forget
        self.commands.update(self.rights.commands())
        self.buttons.update(self.rights.buttons())
        self.recommend = RecommendChat(store, self.learning, self.is_admin, lesson_chunks, embedder)
        self.forget_hooks.append(lambda _report: self.recommend.recommender.forget())
        self.forget_hooks.append(lambda report: self.learning.forget_reading(report.learner_id))
        self.commands.update(self.recommend.commands(self.commands))  # /next /digest; tags in views
        self.buttons.update(self.recommend.buttons(self.buttons))

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
            learner_id = self._note_chat(message)
            MESSAGES.labels(message.platform).inc()
            log.info(
                "message on %s from learner %s: %s",
                message.platform,
                learner_id,
                logged_text(message.text, message.callback_data, message.file),
            )
            return await self._route(message, notify)
        except Exception:
            log.exception(
                "handler failed for a message on %s from user %s", message.platform, message.user_id
            )
            return [Reply("Sorry, something went wrong on my side. Please try again in a moment.")]

    def _note_chat(self, message: IncomingMessage) -> int:
        """Remember where this learner talks to the bot (scheduled pushes go there) and when."""
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        self.store.record_chat(
            learner_id, message.platform, message.chat_id, message.direct, self.learning.now()
        )
        if message.team_id:  # organisation grants apply through the learner's workspace
            self.store.record_team(learner_id, message.platform, message.team_id, self.learning.now())
        return learner_id

    async def _route(self, message: IncomingMessage, notify: Notify | None = None) -> list[Reply]:
        if message.payment is not None:
            return await self.premium.on_payment(message)
        if message.callback_data is not None:
            return await self._button(message)
        if message.file is not None:
            return await self._upload(message, notify)
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
        answered = await self.learning.answer_text(message, text)
        if answered is not None:
            return answered
        return await self._question(message, text)

    def is_admin(self, message: IncomingMessage) -> bool:
        """Whether the sender is an admin (configured list or ``learnbot admin add``)."""
        key = f"{message.platform}:{message.user_id}"
        return key in self.configured_admins or self.store.is_admin(message.platform, message.user_id)

    # -- commands --------------------------------------------------------------------------

    async def _start(self, message: IncomingMessage, argument: str) -> list[Reply]:
        self.store.learner_for(message.platform, message.user_id, message.display_name)
        name = message.display_name or "there"
        return [Reply(f"Hi {name}! " + HELP["en"])]

    async def _help(self, message: IncomingMessage, argument: str) -> list[Reply]:
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        language = self.store.learner_settings(learner_id).language
        chinese = language == "zh" or (
            not language and (message.locale.lower().startswith("zh") or detect_language(argument) == "zh")
        )
        return [Reply(HELP["zh" if chinese else "en"])]

    async def _courses(self, message: IncomingMessage, argument: str) -> list[Reply]:
        courses = self.store.courses()
        if not courses:
            return [Reply("No courses are available yet.")]
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        enrolled = set(self.store.enrollments(learner_id))
        now = self.learning.now()
        lines, locked = ["Courses:"], []
        for c in courses:
            if not self.store.may_see_course(learner_id, c, now):  # an upsell: title only, no content
                locked.append(f"- [premium, locked] {c['title']} ({c['course_id']}), track {c['track']}")
                continue
            mark = " (enrolled)" if c["course_id"] in enrolled else ""
            lines.append(
                f"- {c['title']} ({c['course_id']}): {c['lesson_count']} lessons, {c['language']}{mark}"
            )
        lines.append("Join one with /enroll COURSE_ID.")
        if locked:
            lines += ["", "Premium (unlock with /premium):", *locked]
        return [Reply("\n".join(lines))]

    async def _ask(self, message: IncomingMessage, argument: str) -> list[Reply]:
        if not argument:
            return [Reply("Ask me something after /ask, for example: /ask what is phishing?")]
        return await self._question(message, argument)

    async def _link(self, message: IncomingMessage, argument: str) -> list[Reply]:
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
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
        self._windows.pop(learner_id, None)
        return [Reply("Done: this account and your other account are now one learner.")]

    # -- buttons and files -----------------------------------------------------------------

    async def _button(self, message: IncomingMessage) -> list[Reply]:
        prefix, _, rest = (message.callback_data or "").partition(":")
        handler = self.buttons.get(prefix)
        if handler is None:
            return [Reply("That button has expired.")]
        return await handler(message, rest)

    async def _feedback(self, message: IncomingMessage, rest: str) -> list[Reply]:
        question_id, _, value = rest.partition(":")
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        if (
            question_id.isdigit()
            and value in ("up", "down")
            and self.store.record_feedback(int(question_id), learner_id, value)
        ):
            return [Reply("Thanks for the feedback!")]
        return [Reply("That button has expired.")]

    async def _upload(self, message: IncomingMessage, notify: Notify | None = None) -> list[Reply]:
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
        window = self._windows[learner_id].times
        now = self.clock()
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.limits.questions_per_minute:
            return 60 - (now - window[0])
        window.append(now)
        return 0.0

    async def _question(self, message: IncomingMessage, text: str) -> list[Reply]:
        learner_id = self.store.learner_for(message.platform, message.user_id, message.display_name)
        wait = self._rate_limited(learner_id)
        if wait:
            return [Reply(f"You're asking faster than I can read. Please try again in {wait:.0f} seconds.")]
        memory = self._memory[message.conversation]
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
        tracks = self.store.entitled_tracks(learner_id, self.learning.now())
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
