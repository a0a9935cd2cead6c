"""The console adapter: chat with Learnbot in a terminal (the embedded default front door)."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from adapters.console_stream import ConsoleStream
from bot.chat.router import Router
from bot.messages import IncomingMessage, Reply
from bot.streaming import streaming
from knowledge.answer import Citation
from knowledge.models import location


def render(text: str, citations: Sequence[Citation]) -> str:
    """An answer with its numbered sources underneath, as console markup."""
    lines = [escape(text)]
    if citations:
        lines.append("")
        lines.append("[dim]Sources:[/dim]")
        for c in citations:
            where = location(c.lesson_title, c.heading)
            lines.append(f"[dim]  {escape(f'[{c.n}] {where}  ({c.source_path})')}[/dim]")
    return "\n".join(lines)


class ConsoleAdapter:
    """Reads lines from the terminal, prints replies with citations.

    Example:
        >>> await ConsoleAdapter(app.bot).play(["What is phishing?"])
    """

    platform = "console"

    def __init__(self, bot: Router, console: Console | None = None, user: str | None = None) -> None:
        self.bot = bot
        self.console = console or Console()
        self.user = user or getpass.getuser()
        self._running = False
        # The buttons under the replies last printed, by label in lower case: a terminal cannot click,
        # so typing a label ("Easy", "next section") presses it, as a tap would on Slack or Telegram.
        self._pressable: dict[str, str] = {}
        self._in_turn = False

    async def start(self) -> None:
        """Start reading lines (see :meth:`run`)."""
        self._running = True

    async def stop(self) -> None:
        """Stop after the current line."""
        self._running = False

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Print a reply; a file it carries is written to the current folder and its path printed."""
        self.console.print(render(reply.text, reply.citations), highlight=False)
        if reply.invoice is not None:  # no payments in a terminal
            self.console.print(escape(reply.invoice.fallback), highlight=False)
        if reply.document is not None:
            path = Path(Path(reply.document.name).name).resolve()
            path.write_bytes(reply.document.content)
            self.console.print(f"[dim]file saved: {escape(str(path))}[/dim]")
        if not self._in_turn:  # a push between turns: its buttons are the ones to press now
            self._pressable = {}
        for row in reply.buttons:
            for b in row:
                if b.data:
                    self._pressable[b.label.strip().lower()] = b.data
        if reply.buttons:
            labels = "  ".join(f"[{b.label}]" for row in reply.buttons for b in row)
            self.console.print(f"[dim]{escape(labels)}[/dim]")
        self.console.print()

    async def say(self, text: str) -> list[Reply]:
        """Send one line as the learner and print the replies.

        A line that is the label of a button under the last replies (any case, brackets optional)
        presses that button instead of asking a question.
        """
        label = text.strip().strip("[]").strip().lower()
        data = self._pressable.get(label) if label else None
        message = IncomingMessage(
            self.platform,
            self.user,
            self.user,
            "" if data else text,
            display_name=self.user,
            callback_data=data,
        )
        live = ConsoleStream(self.console)  # the answer's words as the model writes them
        with streaming(live.stream()):
            replies = await self.bot.handle(message)
        live.finish()
        self._pressable, self._in_turn = {}, True
        try:
            for reply in replies:
                await self.send(self.user, reply)
        finally:
            self._in_turn = False
        return replies

    async def play(self, lines: Sequence[str]) -> None:
        """Run a scripted conversation, echoing each line (used by ``learnbot demo``)."""
        for line in lines:
            self.console.print(f"[bold cyan]you>[/bold cyan] {line}", highlight=False)
            await self.say(line)

    async def run(self) -> None:
        """Interactive loop until end of input, ``/quit`` or Ctrl-C."""
        await self.start()
        self.console.print("Ask about your courses. /help for commands, /quit to leave.")
        while self._running:
            try:
                line = await asyncio.to_thread(self.console.input, "[bold cyan]you>[/bold cyan] ")
            except (EOFError, KeyboardInterrupt):
                break
            if line.strip() in ("/quit", "/exit"):
                break
            if line.strip():
                await self.say(line)
        await self.stop()
