"""The Telegram front door: python-telegram-bot's ``Application`` translating updates for the core.

Every update (command, text, button press, document) becomes an :class:`IncomingMessage` for
:meth:`Router.handle`; each :class:`Reply` comes back as HTML messages with an inline keyboard
(see :mod:`adapters.telegram_render`). Nothing here knows about courses or learners.

Replies go out through :mod:`adapters.telegram_send`; the token and webhook secret are kept out
of the logs by :mod:`adapters.telegram_redact`.

Long polling by default; webhook mode when a webhook URL is set, in which case PTB runs without
an updater and :mod:`adapters.telegram_webhook` (our aiohttp server, with ``/healthz`` and
``/metrics`` beside it) refuses (403) any request without the secret token header. Outgoing calls
go through PTB's ``AIORateLimiter`` so the bot keeps to Telegram's flood limits.

Example:
    >>> [adapter] = app.chat_adapters("telegram")  # TELEGRAM_BOT_TOKEN and the settings
    >>> await adapter.start()  # runs beside other adapters in the same event loop
    >>> await adapter.send("12345", Reply("Your quiz is due."))
    >>> await adapter.stop()
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urlsplit

from telegram import BotCommand, Document, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from adapters.telegram_payments import answer_pre_checkout, payment_message
from adapters.telegram_redact import redact_in_logs
from adapters.telegram_send import TYPING_AFTER_S, chat_id_of, deliver, typing
from adapters.telegram_stream import TelegramDraft
from adapters.telegram_webhook import TelegramWebhook
from bot.chat.router import Router
from bot.chat.texts import APOLOGY, COMMANDS, COMMANDS_ZH
from bot.health import Health
from bot.messages import FileRef, IncomingMessage, Reply
from bot.streaming import streaming

__all__ = ["APOLOGY", "COMMANDS_ZH", "PLATFORM", "TYPING_AFTER_S", "TelegramAdapter", "TelegramUnreachable"]

log = logging.getLogger(__name__)
PLATFORM = "telegram"
RECENT_UPDATES = 2048  # update ids remembered in memory; the core's store is the durable check
DOWNLOAD_TIMEOUT_S = 120.0
START_TRIES = 5  # at start-up, waiting 1, 2, 4, 8 s between tries: a Bot API restart or a network blip
PUBLIC_API = "https://api.telegram.org"
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_CONVERSATION = filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL & ~filters.SUCCESSFUL_PAYMENT


class TelegramUnreachable(ConnectionError):
    """The Bot API did not answer at start-up, after every try; the message says where and how often."""


class TelegramAdapter:
    """Serves one Telegram bot: receives updates for ``bot`` and sends its replies.

    Args:
        bot: The conversation core.
        token: The bot token from @BotFather.
        api_url: Root of a self-hosted Bot API server (``http://127.0.0.1:8081``); empty for Telegram's.
        webhook_url: Public HTTPS URL Telegram posts updates to; empty for long polling.
        webhook_secret: Required with a webhook: Telegram sends it in ``X-Telegram-Bot-Api-Secret-Token``.
        webhook_listen: Address the webhook server binds (put a TLS proxy in front of it).
        webhook_port: Port the webhook server binds.
        poll_timeout: Seconds one long-poll ``getUpdates`` waits for updates.
        concurrency: Updates handled at once (messages in one chat still go in order).
        rate_limit: Keep to Telegram's flood limits (turn off only against a local test server).
        start_tries: Tries to reach the Bot API at start-up before giving up.
        retry_delay: Seconds before the second try; each later wait doubles.
        health: ``/healthz`` and ``/metrics`` to serve beside the webhook (webhook mode only).
    """

    platform = PLATFORM

    def __init__(
        self,
        bot: Router,
        *,
        token: str,
        api_url: str = "",
        webhook_url: str = "",
        webhook_secret: str = "",
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        poll_timeout: float = 10.0,
        concurrency: int = 32,
        rate_limit: bool = True,
        start_tries: int = START_TRIES,
        retry_delay: float = 1.0,
        health: Health | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Telegram bot token is required (TELEGRAM_BOT_TOKEN)")
        if webhook_url and not _SECRET_TOKEN.fullmatch(webhook_secret):
            raise ValueError(
                "webhook mode needs LEARNBOT_TELEGRAM_WEBHOOK_SECRET "
                "(1-256 characters: letters, digits, _ and -)"
            )
        redact_in_logs(token, webhook_secret)
        self.bot = bot
        self.api_root = _api_root(api_url)
        self.webhook_url = webhook_url
        self.webhook_listen = webhook_listen
        self.webhook_port = webhook_port
        self.poll_timeout = poll_timeout
        self.start_tries = max(1, start_tries)
        self.retry_delay = retry_delay
        self._webhook_secret = webhook_secret
        # Update ids count per bot: after a token change on the same data dir the new bot's ids
        # start again, so the durable dedupe key names the bot (the token's numeric prefix).
        self.bot_id = token.partition(":")[0]
        self.health = health
        """``/healthz`` and ``/metrics`` (from ``__init__``), served beside the webhook."""
        self._webhook: TelegramWebhook | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._chat_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.application = self._build(token, concurrency, rate_limit)

    @property
    def mode(self) -> str:
        """``"webhook"`` or ``"polling"``."""
        return "webhook" if self.webhook_url else "polling"

    def _build(self, token: str, concurrency: int, rate_limit: bool) -> Application:
        builder = Application.builder().token(token).concurrent_updates(concurrency)
        if self.api_root:
            builder = builder.base_url(f"{self.api_root}/bot").base_file_url(f"{self.api_root}/file/bot")
        if rate_limit:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
        if self.webhook_url:  # our own server receives the updates (adapters.telegram_webhook)
            builder = builder.updater(None)
        application = builder.build()
        application.add_handler(TypeHandler(Update, self._drop_repeated_update), group=-1)
        application.add_handler(CallbackQueryHandler(self._on_button))
        application.add_handler(MessageHandler(_CONVERSATION, self._on_message))
        application.add_handler(PreCheckoutQueryHandler(self._on_pre_checkout))
        paid = filters.SUCCESSFUL_PAYMENT | filters.StatusUpdate.REFUNDED_PAYMENT
        application.add_handler(MessageHandler(paid, self._on_payment))
        application.add_error_handler(self._on_error)
        return application

    # -- lifecycle (the ChatAdapter protocol) ----------------------------------------------

    async def start(self) -> None:
        """Connect, publish the command menu, and begin polling or serving the webhook."""
        application = self.application
        await self._initialize()
        await self.set_commands()
        await application.start()
        try:
            if self.webhook_url:
                await self._serve_webhook()
            else:
                assert application.updater is not None
                # PTB retries its own first call (deleteWebhook) this many times, 1 s apart
                retries = self.start_tries - 1
                await application.updater.start_polling(timeout=self.poll_timeout, bootstrap_retries=retries)
        except NetworkError as exc:
            await self.stop()  # started but not receiving: serve never got to stop it
            if isinstance(exc, BadRequest):
                raise
            raise self._unreachable(self.start_tries, exc) from None
        except Exception:  # e.g. the webhook port is taken
            await self.stop()
            raise
        log.info("Telegram adapter running (%s) as @%s", self.mode, application.bot.username)

    async def _initialize(self) -> None:
        """PTB's ``initialize`` (``getMe``), tried again with a doubling wait while the network fails.

        Raises:
            TelegramUnreachable: every try failed on the network.
            InvalidToken: Telegram refused the token (no point in trying again).
        """
        try:
            await self._retried(self.application.initialize)
        except NetworkError as exc:
            if isinstance(exc, BadRequest):
                raise
            await self.application.bot.shutdown()  # close the HTTP pool PTB opened
            raise self._unreachable(self.start_tries, exc) from None

    async def _serve_webhook(self) -> None:
        """Listen for Telegram's POSTs (with health and metrics), then point Telegram at the URL."""
        self._webhook = TelegramWebhook(
            self.application, urlsplit(self.webhook_url).path, self._webhook_secret, health=self.health
        )
        await self._webhook.start(self.webhook_listen, self.webhook_port)
        bot = self.application.bot
        await self._retried(lambda: bot.set_webhook(self.webhook_url, secret_token=self._webhook_secret))

    async def _retried(self, call: Callable[[], Awaitable[object]]) -> None:
        """``call()``, tried up to ``start_tries`` times with a doubling wait while the network fails."""
        delay = self.retry_delay
        for attempt in range(1, self.start_tries + 1):
            try:
                await call()
                return
            except NetworkError as exc:
                if isinstance(exc, BadRequest) or attempt == self.start_tries:
                    raise
                log.warning(
                    "could not reach the Telegram Bot API (try %s of %s, again in %.0f s): %s",
                    attempt,
                    self.start_tries,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay *= 2

    def _unreachable(self, tries: int, exc: Exception) -> TelegramUnreachable:
        return TelegramUnreachable(
            f"could not reach the Telegram Bot API at {self.api_root or PUBLIC_API} after {tries} "
            f"tries ({type(exc).__name__}: {exc}); check the network and LEARNBOT_TELEGRAM_API_URL"
        )

    async def stop(self) -> None:
        """Stop receiving, finish the updates in hand, and close connections. Safe to call twice."""
        application = self.application
        if self._webhook is not None:
            await self._webhook.stop()
            self._webhook = None
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver a reply to a chat (for pushes such as due quizzes and digests)."""
        await deliver(self.application.bot, chat_id_of(chat_id), reply)

    async def set_commands(self) -> None:
        """The command menu, in English (the default) and Chinese."""
        english = [BotCommand(name, text) for name, text in COMMANDS.items()]
        chinese = [BotCommand(name, COMMANDS_ZH.get(name, text)) for name, text in COMMANDS.items()]
        try:
            await self.application.bot.set_my_commands(english)
            await self.application.bot.set_my_commands(chinese, language_code="zh")
        except TelegramError as exc:  # a missing menu is no reason not to serve
            log.warning("could not set the Telegram command menu: %s", exc)

    def delivery_id(self, update: Update) -> str:
        """The core's dedupe key of an update: ``BOT_ID:UPDATE_ID`` (update ids are per bot)."""
        return f"{self.bot_id}:{update.update_id}"

    # -- updates in ------------------------------------------------------------------------

    async def _drop_repeated_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """First line against redelivered updates (the core dedupes durably on ``delivery_id``)."""
        if update.update_id in self._seen:
            log.info("update %s seen before; ignored", update.update_id)
            raise ApplicationHandlerStop
        self._seen[update.update_id] = None
        if len(self._seen) > RECENT_UPDATES:
            self._seen.popitem(last=False)

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        thread_id = message.message_thread_id if message.is_topic_message else None
        incoming = IncomingMessage(
            platform=PLATFORM,
            user_id=str(user.id),
            chat_id=str(message.chat_id),
            text=message.text or message.caption or "",
            display_name=user.full_name,
            thread_id=str(thread_id or ""),
            message_id=str(message.message_id),
            delivery_id=self.delivery_id(update),
            file=self._file_ref(message.document) if message.document else None,
            locale=user.language_code or "",
            direct=message.chat.type == ChatType.PRIVATE,
        )
        await self._converse(incoming, thread_id)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:  # at once, so the button stops spinning whatever the core does next
            await query.answer()
        except TelegramError as exc:  # e.g. a query older than Telegram keeps
            log.info("could not answer a callback query: %s", exc)
        message = query.message
        topic = getattr(message, "is_topic_message", False)  # an old message may be inaccessible
        thread_id = message.message_thread_id if topic and message else None
        incoming = IncomingMessage(
            platform=PLATFORM,
            user_id=str(query.from_user.id),
            chat_id=str(message.chat.id if message else query.from_user.id),
            display_name=query.from_user.full_name,
            thread_id=str(thread_id or ""),
            message_id=str(message.message_id) if message else "",
            callback_data=query.data or "",
            delivery_id=self.delivery_id(update),
            locale=query.from_user.language_code or "",
            direct=message.chat.type == ChatType.PRIVATE if message else True,
        )
        await self._converse(incoming, thread_id)

    async def _on_pre_checkout(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # not behind the chat lock: Telegram wants the answer within 10 s, even mid-answer
        async def handle(incoming: IncomingMessage) -> list[Reply]:
            return await self.bot.handle(replace(incoming, delivery_id=self.delivery_id(update)))

        await answer_pre_checkout(handle, update)

    async def _on_payment(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        incoming = payment_message(update, message) if message is not None else None
        if incoming is not None:
            await self._converse(replace(incoming, delivery_id=self.delivery_id(update)))

    async def refund_star_payment(self, user_id: int, charge_id: str, subscription: str = "") -> None:
        """Refund a Telegram Stars payment, cancelling its subscription first if it has one.

        Raises ``TelegramError`` when Telegram refuses.
        """
        if subscription:
            await self.application.bot.edit_user_star_subscription(user_id, subscription, is_canceled=True)
        await self.application.bot.refund_star_payment(user_id, charge_id)

    async def tell(self, user_id: int, text: str) -> None:
        """Message a user in their private chat (its id is the user id), e.g. that a refund went through."""
        await self.send(str(user_id), Reply(text))

    def _file_ref(self, document: Document) -> FileRef:
        """A file the core may download, after its own checks, through ``getFile``."""
        bot = self.application.bot

        async def fetch() -> bytes:
            file = await bot.get_file(document.file_id)
            return bytes(await file.download_as_bytearray(read_timeout=DOWNLOAD_TIMEOUT_S))

        return FileRef(document.file_name or "file", document.file_size or 0, fetch)

    async def _converse(self, incoming: IncomingMessage, thread_id: int | None = None) -> None:
        """Hand one message to the core and send what it says; one chat's messages go in order."""
        lock = self._chat_locks.setdefault(incoming.chat_id, asyncio.Lock())
        async with lock:
            chat_id, bot = chat_id_of(incoming.chat_id), self.application.bot
            async with typing(bot, chat_id):
                draft = TelegramDraft(  # shows the answer as it is written
                    bot, chat_id, asyncio.get_running_loop(), private=incoming.direct, thread_id=thread_id
                )
                try:
                    with streaming(draft.stream()):
                        replies = await self.bot.handle(
                            incoming, notify=lambda interim: deliver(bot, chat_id, interim, thread_id)
                        )
                except Exception:  # the core promises not to raise; if it does, still answer
                    log.exception("the core failed on a Telegram message from user %s", incoming.user_id)
                    replies = [Reply(APOLOGY)]
                await draft.finish()
            for reply in replies:
                try:
                    await deliver(bot, chat_id, reply, thread_id)
                except TelegramError:
                    log.exception("could not deliver a reply to Telegram chat %s", incoming.chat_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling a Telegram update", exc_info=context.error)


def _api_root(api_url: str) -> str:
    """The server root, also when someone gives the ``.../bot`` base URL instead."""
    root = api_url.strip().rstrip("/")
    return root.removesuffix("/bot")
