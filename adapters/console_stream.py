"""The console shows an answer as it is written, then replaces the draft with the checked answer.

In a terminal the growing draft sits in a transient rich ``Live`` region (dimmed) that disappears when
the cited reply is printed, so the answer appears once. When output is not a terminal (``make demo``
piped to a file) nothing is drawn mid-answer and only the replies are printed.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from bot.streaming import AHEAD, AnswerStream, readable


class ConsoleStream:
    """Shows the growing answer on a rich console from the answer chain's worker thread.

    Example:
        >>> live = ConsoleStream(console)
        >>> with streaming(live.stream()):
        ...     replies = await bot.handle(message)
        >>> live.finish()  # the draft disappears; print the replies next
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown = ""
        self.updates = 0
        self._live: Live | None = None
        self._lock = threading.Lock()

    def stream(self) -> AnswerStream:
        """The callbacks to set around ``Bot.handle()``."""
        return AnswerStream(self.on_text, self.on_wait)

    def on_text(self, raw: str) -> None:
        """Show the draft so far (called from a worker thread)."""
        text = readable(raw)
        with self._lock:
            if not text or text == self.shown:
                return
            self.shown = text
            self.updates += 1
            if not self.console.is_terminal:
                return
            draft = Text(text, style="dim")
            if self._live is None:
                self._live = Live(draft, console=self.console, transient=True, refresh_per_second=8)
                self._live.start()
            else:
                self._live.update(draft)

    def on_wait(self, ahead: int) -> None:
        """Say how many questions are ahead of this one."""
        self.console.print(f"[dim]{escape(AHEAD['en'].format(n=ahead))}[/dim]", highlight=False)

    def finish(self) -> None:
        """Remove the draft before the reply is printed."""
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None
            self.shown = ""
