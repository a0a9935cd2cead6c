"""The console's growing draft is replaced by the answer: it is shown once (issue 13)."""

from __future__ import annotations

import io

from rich.console import Console

from adapters.console_stream import ConsoleStream


def draft_then_reply(terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=80)
    live = ConsoleStream(console)
    stream = live.stream()
    for text in ("Passphrases", "Passphrases are long", "Passphrases are long and easy to remember"):
        stream.on_text(text)
    live.finish()
    console.print("ANSWER: Passphrases are long and easy to remember [1]")
    assert live.updates == 3
    return out.getvalue()


def test_without_a_terminal_only_the_reply_is_printed():
    assert draft_then_reply(terminal=False) == "ANSWER: Passphrases are long and easy to remember [1]\n"


def test_in_a_terminal_the_draft_is_drawn_and_then_cleared():
    shown = draft_then_reply(terminal=True)
    assert "Passphrases are long" in shown.split("ANSWER")[0]  # the draft was drawn while it grew
    assert shown.count("ANSWER: Passphrases") == 1
