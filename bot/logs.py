"""Logging: one line per event, learner ids but never secrets, text or JSON.

:func:`setup_logging` installs one handler on the root logger with a :class:`Redactor` filter, so
every record from every library passes through it: the values of the secret environment variables
(bot tokens, signing secrets, API keys) and anything shaped like a token, a bearer header or a
payment payload are replaced by ``[redacted]``, in the message and in tracebacks. What a learner
wrote is logged only when ``LEARNBOT_LOG_MESSAGE_TEXT=1`` (for debugging); otherwise an event line
says what kind of message it was and how long. ``LEARNBOT_LOG_FORMAT=json`` writes one JSON object a
line for log shippers.

Example:
    >>> setup_logging(settings)
    >>> logging.getLogger("bot").info("message from learner %s", 12)
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from bot.config import Settings

REDACTED = "[redacted]"
SECRET_ENV = (
    "TELEGRAM_BOT_TOKEN",
    "LEARNBOT_TELEGRAM_WEBHOOK_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "OPENAI_API_KEY",
)
"""The secrets Learnbot reads; any variable whose name says TOKEN, SECRET, KEY or PASSWORD counts too."""
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|_KEY$")
_PATTERNS = [
    re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{20,}"),  # Telegram bot token
    re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}"),  # Slack bot / user tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"),  # Slack app-level token
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API key
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(/bot)[^/\s]{8,}(?=/)"),  # Bot API URLs carry the token in the path
    re.compile(r"(://[^/\s:@]+:)[^@\s/]+(?=@)"),  # a password in a URL (API, database, Chroma URLs)
    # Telegram payments: the invoice payload and the charge ids are never logged
    re.compile(
        r"(?i)((?:invoice_)?payload|(?:telegram|provider)_payment_charge_id|order_info)"
        r"(['\"]?\s*[:=]\s*)(?:'[^']*'|\"[^\"]*\"|[^'\",\s})]+)"
    ),
]
_state: dict[str, Any] = {"message_text": False, "fmt": "text", "handler": None}
BODY_LOGGERS = {
    "telegram": logging.INFO,  # DEBUG: whole updates and API results (text, names, ids)
    "httpx": logging.INFO,
    "httpcore": logging.INFO,
    "slack_bolt": logging.WARNING,  # INFO: the body of a request whose signature failed
    "slack_sdk": logging.INFO,  # DEBUG: request bodies and Socket Mode envelopes
    "aiohttp": logging.INFO,
    "openai": logging.INFO,  # DEBUG: request options with the prompt (the learner's question)
}
"""Third-party loggers that log message bodies below these levels; capped unless message text is on."""


def secret_values(env: dict[str, str] | None = None) -> set[str]:
    """The values of the secret environment variables (empty and very short ones left out)."""
    env = dict(os.environ if env is None else env)
    names = set(SECRET_ENV) | {n for n in env if _SECRET_NAME.search(n)}
    found = {env[n] for n in names if len(env.get(n, "")) >= 6}
    # The database URL's password (the URL itself may be printed with it redacted).
    password = urlsplit(env.get("LEARNBOT_DATABASE_URL", "")).password
    return found | ({unquote(password), password} if password else set())


def redact(text: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    """``text`` with the given secrets and anything token- or payload-shaped replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: "".join(g or "" for g in m.groups()) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class Redactor(logging.Filter):
    """Rewrites every record's message and traceback without secrets (put it on a handler)."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        super().__init__()
        self.secrets = secret_values() if secrets is None else set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class ThirdPartyBodies(logging.Filter):
    """Drops third-party records below :data:`BODY_LOGGERS`' levels unless message text logging is on.

    A handler filter rather than logger levels: slack-bolt copies the root level onto each logger it
    creates, so a level set on ``slack_bolt`` would not reach them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """``False`` for a record that may carry what a learner wrote."""
        if _state["message_text"]:
            return True
        name = record.name
        for prefix, cap in BODY_LOGGERS.items():
            if name == prefix or name.startswith((f"{prefix}.", f"{prefix}:")):
                return record.levelno >= cap
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners and CLI runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(
    level: str = "WARNING", fmt: str = "text", message_text: bool = False, stream: Any = None
) -> logging.Handler:
    """Install Learnbot's one root handler (replacing one installed before); returns it.

    Raises:
        ValueError: an unknown level or format.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"LEARNBOT_LOG_FORMAT must be text or json, not {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"LEARNBOT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "learnbot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.learnbot = True  # type: ignore[attr-defined]
    handler.addFilter(ThirdPartyBodies())
    handler.addFilter(Redactor())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)  # library warnings (pypdf, torch) become records: redacted, JSON
    if fmt == "json":
        # Progress bars (model loading in transformers and sentence-transformers) are not log lines;
        # a log shipper reading JSON would choke on them. Set before those libraries make any.
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    sys.excepthook = _redacting_excepthook
    threading.excepthook = _redacting_thread_excepthook
    _state.update(message_text=bool(message_text), fmt=fmt, handler=handler)
    return handler


def announce(message: str, level: int = logging.INFO) -> None:
    """A line for the operator (``serving ...``, a start-up error), whatever the log level.

    A plain line on stderr in text mode; in JSON mode a JSON object like every log record.
    """
    handler = _state["handler"]
    if _state["fmt"] == "json" and handler is not None:
        handler.handle(logging.LogRecord("learnbot", level, __file__, 0, message, None, None))
        return
    sys.stderr.write(redact(message, secret_values()) + "\n")
    sys.stderr.flush()


def _redacting_excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """Print an uncaught exception's traceback with secrets redacted (the last line of defence)."""
    import traceback

    text = redact("".join(traceback.format_exception(kind, exc, tb)), secret_values())
    if _state["fmt"] == "json":
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "CRITICAL",
            "logger": "learnbot",
            "msg": redact(f"uncaught {kind.__name__}: {exc}", secret_values()),
            "exc": text.rstrip("\n"),
        }
        text = json.dumps(entry, ensure_ascii=False) + "\n"
    sys.stderr.write(text)


def _redacting_thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """The same for an exception that ends a thread."""
    if args.exc_type is not SystemExit:
        _redacting_excepthook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)


def configure(settings: Settings) -> logging.Handler:
    """:func:`setup_logging` from the settings (level, format, message text)."""
    return setup_logging(settings.log_level, settings.log_format, bool(settings.log_message_text))


def logged_text(text: str, callback_data: str | None = None, file: Any = None) -> str:
    """How a learner's message appears in an event line: its text only when the debug setting is on."""
    if callback_data is not None:
        return f"button {callback_data.partition(':')[0]!r}"
    if file is not None:
        return f"file of {getattr(file, 'size', 0):,} bytes"
    if _state["message_text"]:
        return repr(text)
    if text.startswith("/"):
        return f"command /{text[1:].split(' ', 1)[0].split('@', 1)[0][:32]} ({len(text)} chars)"
    return f"text ({len(text)} chars)"
