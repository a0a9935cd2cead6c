"""``learnbot quiz review``: the admin walks through generated drafts in the terminal (rich prompts).

Each draft is shown with its options (the correct one marked), explanation, source lesson section
and the chunk it was drafted from; the admin approves, edits (the edit is checked again), rejects,
skips or quits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import IntPrompt, Prompt
from rich.text import Text

from bot.quiz_workshop import QuizWorkshop
from bot.store import QuizItem
from knowledge.generation import shorten
from knowledge.models import Chunk
from knowledge.quizgen import DraftRejected

EXCERPT_CHARS = 600
ACTIONS = r"\[a]pprove, \[e]dit, \[r]eject, \[s]kip, \[q]uit"


@dataclass
class ReviewTally:
    """What one review session did."""

    approved: int = 0
    edited: int = 0
    rejected: int = 0
    skipped: int = 0
    stopped: bool = False

    def __str__(self) -> str:
        done = f"{self.approved} approved, {self.edited} edited, {self.rejected} rejected"
        return f"{done}, {self.skipped} skipped"


def render(item: QuizItem, chunk: Chunk | None, n: int, total: int) -> Panel:
    """One draft as a panel: question, options (correct marked), explanation, source and excerpt."""
    lines: list[Text | str] = [Text(item.question, style="bold")]
    for i, option in enumerate(item.options):
        mark = "[green]✓[/green]" if i == item.answer else " "
        lines.append(f" {mark} {i + 1}. {escape(option)}")
    if item.explanation:
        lines.append(f"[dim]Explanation:[/dim] {escape(item.explanation)}")
    if chunk is None:
        lines.append("[red]Source: its chunk is no longer in the course (it will be retired).[/red]")
    else:
        lines.append(f"[dim]Source:[/dim] {escape(chunk.location)}  [dim]({escape(chunk.source_path)})[/dim]")
        lines.append(Text(shorten(chunk.text, EXCERPT_CHARS), style="dim"))
    title = f"draft {n} of {total} · {escape(item.course_id)} · {escape(item.lesson_id)}"
    return Panel(Group(*lines), title=title, title_align="left")


def review(workshop: QuizWorkshop, items: Sequence[QuizItem], console: Console) -> ReviewTally:
    """Ask about each draft in turn until they are all seen or the admin quits."""
    tally = ReviewTally()
    for n, item in enumerate(items, start=1):
        chunk = workshop.source(item)
        console.print(render(item, chunk, n, len(items)), soft_wrap=False)
        while True:
            action = Prompt.ask(
                ACTIONS, choices=list("aersq"), default="s", show_choices=False, console=console
            )
            if action == "e":
                try:
                    item = edit(workshop, item, console)
                except DraftRejected as rejected:
                    console.print(f"[red]not saved[/red] ({rejected.reason}): {escape(rejected.detail)}")
                    continue
                tally.edited += 1
                console.print(render(item, chunk, n, len(items)), soft_wrap=False)
                continue
            break
        if action == "a":
            workshop.approve(item.item_id)
            tally.approved += 1
        elif action == "r":
            workshop.reject(item.item_id)
            tally.rejected += 1
        elif action == "s":
            tally.skipped += 1
        else:
            tally.stopped = True
            break
    return tally


def edit(workshop: QuizWorkshop, item: QuizItem, console: Console) -> QuizItem:
    """Ask for new text (Enter keeps each part) and save it if it passes the checks.

    Raises:
        DraftRejected: the edited item fails a check; nothing is saved.
    """
    question = Prompt.ask("Question", default=item.question, console=console)
    joined = Prompt.ask("Options, separated by ' | '", default=" | ".join(item.options), console=console)
    options = [o.strip() for o in joined.split("|")]
    answer = IntPrompt.ask("Number of the correct option", default=item.answer + 1, console=console) - 1
    explanation = Prompt.ask("Explanation", default=item.explanation, console=console)
    return workshop.edit(item.item_id, question, options, answer, explanation)
