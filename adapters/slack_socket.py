"""Socket Mode start-up: the first WebSocket URL, with bounded retries and one clear error.

slack_sdk's Socket Mode client retries a failed connect forever, logging a full traceback every
10 s, and keeps trying an app token Slack refused. Here the first ``apps.connections.open`` happens
before it: a refused token is an error at once; an unreachable Slack API is tried again with a
doubling wait, then named in one line. Once connected, slack_sdk's own reconnects take over.

Example:
    >>> await open_socket_url(handler.client, "https://slack.com/api/")
    >>> await handler.connect_async()  # uses the URL opened above
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)
START_TRIES = 5  # waiting 1, 2, 4, 8 s between tries, as for Telegram


class SlackUnreachable(ConnectionError):
    """Socket Mode could not start: Slack refused the app token, or did not answer; the message says which."""


async def open_socket_url(client: Any, api_url: str, tries: int = START_TRIES, delay: float = 1.0) -> None:
    """Set ``client.wss_uri`` (a slack_sdk ``AsyncBaseSocketModeClient``) from ``apps.connections.open``.

    Raises:
        SlackUnreachable: the token was refused, or the API did not answer after ``tries`` tries.
    """
    for attempt in range(1, tries + 1):
        try:
            client.wss_uri = await client.issue_new_wss_url()
            return
        except SlackApiError as exc:
            error = exc.response.get("error", "") if exc.response is not None else ""
            raise SlackUnreachable(
                f"Slack refused to open a Socket Mode connection ({error or exc}); check SLACK_APP_TOKEN "
                "(an app-level token, xapp-..., with the connections:write scope)"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if attempt == tries:
                raise SlackUnreachable(
                    f"could not reach the Slack API at {api_url} after {tries} tries "
                    f"({type(exc).__name__}: {exc}); check the network and LEARNBOT_SLACK_API_URL"
                ) from None
            log.warning(
                "could not reach the Slack API (try %s of %s, again in %.0f s): %s",
                attempt,
                tries,
                delay,
                exc,
            )
            await asyncio.sleep(delay)
            delay *= 2
