"""Keeps the Telegram bot token and webhook secret out of the logs.

PTB logs its API URL (which contains the token) and call parameters (which contain the webhook
secret) at DEBUG, and httpx logs every request URL at INFO: a filter on those loggers replaces
the secrets with ``[redacted]``.

Example:
    >>> redact_in_logs(token, webhook_secret)
"""

from __future__ import annotations

import logging

_OWN_LOGGERS = [
    "adapters.telegram",
    "adapters.telegram_send",
    "adapters.telegram_payments",
    "adapters.telegram_webhook",
]


class _Redactor(logging.Filter):
    """Replaces the bot token and webhook secret in log records with ``[redacted]``."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if any(secret in text for secret in self.secrets):
                record.exc_text = self.redact(text)
        return True


_REDACTOR = _Redactor()


def redact_in_logs(*secrets: str) -> None:
    """Install the redacting filter on the loggers that may print the token or the secret.

    A logger's filters see only records logged on that logger itself, so it goes on each one.
    """
    _REDACTOR.secrets.update(s for s in secrets if s)
    names = ["httpx", "httpcore", "telegram", "telegram.ext", *_OWN_LOGGERS]
    names += [n for n in logging.root.manager.loggerDict if n.startswith(("telegram", "httpx"))]
    for name in names:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
