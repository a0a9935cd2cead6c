"""slack-bolt's ``AsyncApp`` as Learnbot builds it: one workspace, one static token, no needless warning.

The app's own Web API client carries no token; ``authorize=`` hands bolt the bot token for every
request, so no ``auth.test`` round trip is made. The adapter (:mod:`adapters.slack`) then adds its
middleware and listeners.

Example:
    >>> app = bolt_app(bot_token="xoxb-…", signing_secret="…", api_url=AsyncWebClient.BASE_URL, retries=[])
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient


class _DropMessage(logging.Filter):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


@contextlib.contextmanager
def _no_token_skipped_warning() -> Iterator[None]:
    """Silence bolt's "token will be unused" while the app is built.

    ``AsyncApp`` reads ``SLACK_BOT_TOKEN`` from the environment by itself and, given ``client=`` as
    well, warns that the token is unused: on every start of a correct configuration (our client
    carries no token on purpose; ``authorize=`` supplies it). Only that one message is dropped.
    """
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    quiet = _DropMessage(warning_client_prioritized_and_token_skipped())
    bolt_log.addFilter(quiet)
    try:
        yield
    finally:
        bolt_log.removeFilter(quiet)


def bolt_app(
    *, bot_token: str, signing_secret: str, api_url: str, retries: Sequence[AsyncRetryHandler]
) -> AsyncApp:
    """A bolt app for one workspace whose requests are signed with ``signing_secret``."""

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # one workspace, one static token: no auth.test round trip. A plain function, because
        # bolt passes authorize= arguments by name and, unlike for listeners, does not skip `self`
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=bot_token)

    # bolt's own per-request clients copy this one; the token reaches them through authorize=
    with _no_token_skipped_warning():
        return AsyncApp(
            client=AsyncWebClient(base_url=api_url, retry_handlers=list(retries)),
            signing_secret=signing_secret or "unused-in-socket-mode",
            authorize=authorize,
            process_before_response=False,
            name="slack_bolt.learnbot",  # bolt names app loggers after it: keep them under slack_bolt
        )
