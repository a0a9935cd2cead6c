"""The console shows an answer as it is written: new words are printed (dimmed) as the model writes them.

The checked, cited answer still follows as the reply; what streamed is the model's draft of it.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape

from bot.streaming import AHEAD, AnswerStream, readable


class ConsoleStream:
    """Prints the growing answer to a rich console from the answer chain's worker thread.

    Example:
        >>> with streaming(ConsoleStream(console).stream()):
        ...     replies = await bot.handle(message)
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown = ""
        self._lock = threading.Lock()

    def stream(self) -> AnswerStream:
        """The callbacks to set around ``Bot.handle()``."""
        return AnswerStream(self.on_text, self.on_wait)

    def on_text(self, raw: str) -> None:
        """Print what the model added since the last call (called from a worker thread)."""
        text = readable(raw)
        with self._lock:
            if not text.startswith(self.shown) or text == self.shown:
                return  # cleaning changed earlier text: wait for the final reply
            new, self.shown = text[len(self.shown) :], text
            self.console.print(f"[dim]{escape(new)}[/dim]", end="", highlight=False, soft_wrap=True)

    def on_wait(self, ahead: int) -> None:
        """Say how many questions are ahead of this one."""
        self.console.print(f"[dim]{escape(AHEAD['en'].format(n=ahead))}[/dim]", highlight=False)

    def finish(self) -> None:
        """End the streamed line before the reply is printed."""
        with self._lock:
            if self.shown:
                self.console.print()
            self.shown = ""
