"""The learner's preferences in chat: /settings (time zone, active hours, language), /pause, /resume.

They only read and write the learner's settings row; the jobs honour them (pushes only within the
active hours of the learner's time zone, none while paused). The router registers
:meth:`PreferencesChat.commands`.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.chat.context import ChatContext, Handler
from bot.messages import Reply
from bot.store import Store

_HOURS = re.compile(r"^(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?$")


class PreferencesChat:
    """The learner's own settings, as chat commands.

    Example:
        >>> chat = PreferencesChat(store)
        >>> bot.commands.update(chat.commands())
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def commands(self) -> dict[str, Handler]:
        """Slash commands, by name."""
        return {"settings": self.settings, "pause": self.pause, "resume": self.resume}

    async def settings(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/settings`` shows; ``/settings tz Europe/Berlin``, ``hours 8-21``, ``language en`` change."""
        learner_id = ctx.learner_id
        key, _, value = argument.strip().partition(" ")
        key, value = key.lower(), value.strip()
        if key in ("tz", "timezone", "zone"):
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                return [Reply(f"I don't know the time zone {value!r}. Use a name like Europe/Berlin or UTC.")]
            self.store.update_learner_settings(learner_id, timezone=value)
        elif key == "hours":
            match = _HOURS.match(value)
            start, end = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
            if not (0 <= start <= 23 and 0 <= end <= 24 and start != end):
                return [
                    Reply("Give your active hours as START-END (24-hour clock), e.g. /settings hours 8-21.")
                ]
            self.store.update_learner_settings(learner_id, active_start=start, active_end=end)
        elif key == "language":
            if value not in ("en", "zh", "auto"):
                return [Reply("Language is en, zh or auto.")]
            self.store.update_learner_settings(learner_id, language="" if value == "auto" else value)
        elif key:
            return [Reply("I can set tz, hours and language, for example /settings tz Europe/Berlin.")]
        s = self.store.learner_settings(learner_id)
        lines = [
            "Your settings:" if not key else "Saved. Your settings:",
            f"- time zone: {s.timezone}",
            f"- active hours: {s.active_start:02d}:00-{s.active_end:02d}:00 (I send quizzes only then)",
            f"- reminders: {'paused (/resume)' if s.paused else 'on (/pause)'}",
            f"- language: {s.language or 'auto'}",
            "Change with /settings tz Europe/Berlin, /settings hours 8-21, /settings language en|zh|auto.",
        ]
        return [Reply("\n".join(lines))]

    async def pause(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/pause``: no pushed quizzes or reminders until ``/resume``."""
        self.store.update_learner_settings(ctx.learner_id, paused=True)
        return [
            Reply(
                "Paused: I won't send you quizzes or reminders until you /resume. "
                "You can still ask questions and use /quiz."
            )
        ]

    async def resume(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/resume``: pushes and reminders again."""
        self.store.update_learner_settings(ctx.learner_id, paused=False)
        return [Reply("Welcome back: quizzes and reminders are on again, within your active hours.")]
