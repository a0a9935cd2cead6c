"""What every ``learnbot`` sub-command shares: the consoles, the errors, the app, progress, identities.

Sub-command modules import this, never the root (:mod:`bot.cli`), which adds them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from bot.app import App
from bot.config import Settings
from bot.ingest_service import hand_over
from bot.logs import announce
from bot.logs import configure as configure_logging

# Literal by default: course text, ids and file names often hold "[/docs]" or ":x:", which rich would
# read as markup (and crash on) or turn into emoji. Styled output says so with Text or markup=True.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160, markup=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)


class CliError(Exception):
    """A user error: printed in red, exit status 2."""


def notice(label: str, text: str) -> None:
    """A line for the operator on stderr (``skipped ...``): highlighted on a terminal, otherwise a log line.

    Off a terminal it goes through the log set-up, so ``LEARNBOT_LOG_FORMAT=json`` makes it a JSON line.
    """
    if err.is_terminal:
        err.print(Text.assemble((label, "yellow"), f" {text}"), highlight=False)
    else:
        announce(f"{label} {text}", logging.WARNING)


def cells(*values: object) -> list[Text]:
    """Table cells printed as they are, whatever the console's settings (course text is not markup)."""
    return [Text(str(value)) for value in values]


def chat_console() -> Console:
    """The console chat's: markup for its own styling (it escapes course text), no emoji (":x:" stays)."""
    return Console(emoji=False)


def open_app(**overrides: Any) -> App:
    """The app built from the settings (``overrides`` replace settings); tests replace this function.

    Sub-commands call it as ``common.open_app(...)``, looked up at call time, so a test that replaces
    it reaches every command.
    """
    settings = Settings.load(**overrides)
    configure_logging(settings)
    return App(settings)


class ProgressReport:
    """Progress of slow work on stderr: a bar on a terminal, plain lines otherwise (logs, cron, CI).

    Called as ``progress(done, total)``; a plain line goes out at the start, at every tenth, at least
    every half minute (a 20 MB document takes minutes a tenth) and at the end: a long run shows it is
    alive without flooding a log.
    """

    EVERY_SECONDS = 30.0

    def __init__(self, description: str, bar: Progress | None) -> None:
        self.description = description
        self.bar = bar
        self.task = bar.add_task(description, total=None) if bar is not None else None
        self._tenth = -1
        self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """``done`` of ``total`` units are finished."""
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
            return
        tenth = done * 10 // total if total else 10
        now = time.monotonic()
        if total and (tenth > self._tenth or now - self._last >= self.EVERY_SECONDS):
            self._tenth, self._last = tenth, now
            announce(f"{self.description}: {done}/{total}")

    def lesson(self, n: int, total: int, lesson_id: str, chunks: int) -> None:
        """A lesson was read and chunked: one line each (before the embedding starts)."""
        name = lesson_id or "pages outside the lessons"
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.description} (lesson {n}/{total})")
        else:
            announce(f"lesson {n}/{total} {name}: {chunks} chunks")


@contextmanager
def progress(description: str) -> Iterator[ProgressReport]:
    """A :class:`ProgressReport` for ``description``: a bar on a terminal, plain log lines otherwise."""
    if not err.is_terminal:
        yield ProgressReport(description, None)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        yield ProgressReport(description, bar)


def identity(who: str, platforms: tuple[str, ...] = ("telegram", "slack", "console")) -> tuple[str, str]:
    """``PLATFORM:USER_ID`` split into its two parts, or a clear error naming the accepted platforms."""
    platform, _, user_id = who.strip().partition(":")
    if platform not in platforms or not user_id.strip():
        names = " or ".join(platforms)
        raise CliError(f"expected PLATFORM:USER_ID ({names}) such as telegram:12345, not {who!r}")
    return platform, user_id.strip()


def learner(store: Any, who: str, *, create: bool = False) -> int:
    """The learner an admin means by ``12`` (a learner id) or ``PLATFORM:USER_ID`` (one of their identities).

    With ``create``, an identity seen for the first time becomes a new learner; otherwise an unknown
    id or identity is a clear error.
    """
    if create and not who.strip().isdigit():
        return store.learner_for(*identity(who))
    learner_id = store.resolve_learner(who)
    if learner_id is None:
        raise CliError(f"no learner {who!r}: give a learner id or PLATFORM:USER_ID such as telegram:12345")
    return learner_id


def handed_over(command: str, **args: Any) -> int | None:
    """For the CLI: run ``command`` in the ``serve`` holding this data dir's index, if one does.

    Returns its exit status, or ``None`` when no serve listens (the CLI then does the job itself).
    """
    settings = Settings.load()
    if settings.chroma_url:
        return None  # a Chroma server: the CLI writes to it directly, beside any number of serves

    def print_line(text: str, is_notice: bool) -> None:
        if is_notice:
            label, _, rest = text.partition(" ")
            notice(label, rest)
        else:
            out.print(text, highlight=False)

    return hand_over(settings.data_dir, command, args, print_line)
