"""What the Slack adapter asks Slack about people and files, remembered where it can be.

A user's display name and locale (``users.info``), the bot's DM channel with them
(``conversations.open``), and a shared file as a :class:`FileRef` that downloads it with the bot
token only when the core decides to. Names, locales and DM channels are kept in small LRUs, so a
user costs one call each per process; :meth:`SlackDirectory.forget` drops an erased learner's.

Example:
    >>> directory = SlackDirectory(client, bot_token="xoxb-…")
    >>> name, locale = await directory.profile("U0123")
"""

from __future__ import annotations

import logging
from functools import partial

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_events import Recent
from bot.messages import FileRef

log = logging.getLogger("adapters.slack")  # the adapter's log lines, under the name they always had


class SlackDirectory:
    """Users' names, locales and DM channels, and shared files, through one Web API client.

    Args:
        client: The adapter's Web API client (its ``session``, once started, serves downloads too).
        bot_token: Sent with file downloads, which Slack serves only to the app.
    """

    def __init__(self, client: AsyncWebClient, bot_token: str) -> None:
        self.client = client
        self._bot_token = bot_token
        self.profiles: Recent = Recent(1024)
        """``user id -> (display name, locale)``."""
        self.dm_channels: Recent = Recent(4096)
        """``user id -> the bot's DM channel with them``."""

    def forget(self, user_id: str) -> None:
        """Drop a user's cached name, locale and DM channel (an erased learner)."""
        self.profiles.discard(user_id)
        self.dm_channels.discard(user_id)

    async def dm_channel(self, user_id: str) -> str:
        """The id of the bot's DM with a user, opened (``conversations.open``) if they never wrote.

        File uploads and message edits need the conversation id, not the user id; the answer is
        remembered, so a user costs one call per process.
        """
        channel = self.dm_channels.get(user_id)
        if channel is None:
            try:
                opened = await self.client.conversations_open(users=user_id)
            except SlackApiError as error:  # e.g. an install from before the app asked for im:write
                log.warning(
                    "conversations.open failed for %s (%s; does the app have im:write?); "
                    "posting to the user id instead",
                    user_id,
                    error.response.get("error"),
                )
                return user_id  # chat.postMessage takes it; deliver() goes on in the DM it answers with
            channel = str(opened["channel"]["id"])
            self.dm_channels.add(user_id, channel)
        return channel

    async def profile(self, user_id: str) -> tuple[str, str]:
        """The user's display name and locale, looked up once and remembered."""
        cached = self.profiles.get(user_id)
        if cached is not None:
            return cached
        try:
            user = (await self.client.users_info(user=user_id, include_locale=True))["user"]
        except SlackApiError as error:
            log.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
            return "", ""
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or ""
        found = (name or user.get("name", ""), user.get("locale", ""))
        self.profiles.add(user_id, found)
        return found

    async def file_ref(self, file_id: str, info: dict | None) -> FileRef:
        """A shared file as the core sees it: name, size, and a download it may or may not start."""
        if not info or "url_private_download" not in info:
            info = (await self.client.files_info(file=file_id))["file"]
        url = info.get("url_private_download") or info.get("url_private") or ""
        size = int(info.get("size") or 0)
        return FileRef(
            info.get("name") or info.get("title") or file_id, size, partial(self.download, url, size)
        )

    async def download(self, url: str, size: int) -> bytes:
        """Fetch a private file with the bot token (only when the core decides to)."""
        limit = size + (1 << 20)
        session = self.client.session or aiohttp.ClientSession()
        try:
            headers = {"Authorization": f"Bearer {self._bot_token}"}
            async with session.get(url, headers=headers) as response:
                if response.status != 200:
                    raise OSError(f"Slack refused the file download (HTTP {response.status})")
                if response.content_type == "text/html":
                    # Slack answers a request it won't serve with its sign-in page
                    raise OSError("Slack sent a web page instead of the file: does the app have files:read?")
                data = bytearray()
                async for chunk in response.content.iter_chunked(1 << 16):
                    data += chunk
                    if len(data) > limit:
                        raise OSError(f"the file is larger than the {size:,} bytes Slack announced")
                return bytes(data)
        finally:
            if session is not self.client.session:
                await session.close()
