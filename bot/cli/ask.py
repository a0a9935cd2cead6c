"""``learnbot search|ask``: a question, or a file of them, against the course material.

A question passes the same checks as in chat: control characters and lone surrogates are cleaned
away, an empty question is refused, a longer one than ``LEARNBOT_MAX_MESSAGE_CHARS`` too. In a batch
(``--from-file``) a bad line is reported (a JSON line with an ``error``, and a line on stderr) and the
batch goes on; the exit status is then 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from bot.chat.router import clean_input
from bot.cli import common
from knowledge.answer import Citation
from knowledge.models import SearchFilter, location

commands = typer.Typer()
"""Added to the root without a name: its commands are top-level."""


@dataclass
class Question:
    """One question to ask, or the reason its line cannot be asked."""

    id: Any
    text: str = ""
    problem: str = ""


def question_problem(text: str, max_chars: int) -> str:
    """Why chat would refuse this (cleaned) question, or "" when it may be asked."""
    if not text:
        return "the question is empty; type a question"
    if len(text) > max_chars:
        return (
            f"the question is {len(text):,} characters long; I read up to {max_chars:,} "
            "(LEARNBOT_MAX_MESSAGE_CHARS)"
        )
    return ""


def read_questions(question: str | None, from_file: Path | None, max_chars: int) -> list[Question]:
    """The question given on the command line, or one per line of a JSON-lines file.

    Raises:
        CliError: no question at all, a refused single question, or no such file.
    """
    if from_file is None:
        if question is None:
            raise common.CliError("give a question, or --from-file QUESTIONS.jsonl")
        text = clean_input(question)
        problem = question_problem(text, max_chars)
        if problem:
            raise common.CliError(problem)
        return [Question(None, text)]
    if not from_file.is_file():
        raise common.CliError(f"{from_file}: no such file")
    rows = []
    # utf-8-sig: Notepad starts a file with a byte-order mark, which is not JSON. errors="replace": one
    # undecodable byte costs its line at most, never the batch.
    lines = from_file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            raw, qid = row["question"], row.get("id", n)
            text = clean_input("" if raw is None else str(raw))  # null is no question, not "None"
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
            rows.append(Question(n, problem=f"expected a JSON object with a 'question' ({exc})"))
            continue
        rows.append(Question(qid, text, question_problem(text, max_chars)))
    return rows


def _json_line(data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in an id: \u escapes print, and read back the same
        text = json.dumps(data)
    return text


def _skip(row: Question, from_file: Path) -> None:
    """Report a line of the batch that cannot be asked, in the output and on stderr."""
    print(_json_line({"id": row.id, "error": row.problem}))
    common.notice("skipped", f"{from_file} (id {row.id}): {row.problem}")


def _print_answer(text: str, citations: list[Citation]) -> None:
    """The answer and its numbered sources, as the console chat shows them, every character as it is."""
    common.out.print(text, highlight=False)
    if citations:
        common.out.print()
        common.out.print("Sources:", style="dim")
        for c in citations:
            where = location(c.lesson_title, c.heading)
            common.out.print(f"  [{c.n}] {where}  ({c.source_path})", style="dim", highlight=False)


def _filter(course: str | None) -> SearchFilter:
    return SearchFilter(course_ids=(course,)) if course else SearchFilter()


@commands.command()
def search(
    question: str = typer.Argument(None, help="What to search for."),
    k: int = typer.Option(5, "-k", help="How many chunks."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    course: str = typer.Option(None, help="Only this course."),
    from_file: Path = typer.Option(
        None, "--from-file", help="JSON lines with id and question; one JSON line out each."
    ),
) -> None:
    """Show the ranked chunks for a question (dense and keyword retrieval, fused)."""
    app = common.open_app()
    rows = read_questions(question, from_file, app.settings.max_message_chars)
    for row in rows:
        if row.problem:
            _skip(row, from_file)
            continue
        hits = app.retriever.retrieve(row.text, k, _filter(course))
        result: dict[str, Any] = {
            "query": row.text,
            "results": [
                {
                    "course_id": h.chunk.course_id,
                    "lesson_id": h.chunk.lesson_id,
                    "lesson_title": h.chunk.lesson_title,
                    "heading": h.chunk.heading,
                    "source_path": h.chunk.source_path,
                    "score": round(h.score, 5),
                    "text": h.chunk.text,
                }
                for h in hits
            ],
        }
        if from_file is not None:
            print(_json_line({**result, "id": row.id}))
        elif as_json:
            common.out.print_json(data=result)
        else:
            for n, r in enumerate(result["results"], start=1):
                # Course text is printed as it is: "[/docs]" or ":x:" in a lesson is not markup.
                where = Text(f"{n}. {location(r['lesson_title'], r['heading'])}", style="bold")
                common.out.print(Text.assemble(where, f"  ({r['score']:.4f})  {r['source_path']}"))
                common.out.print(r["text"][:300].replace("\n", " "), highlight=False)
    if any(row.problem for row in rows):
        raise typer.Exit(1)


@commands.command()
def ask(
    question: str = typer.Argument(None, help="The question."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    course: str = typer.Option(None, help="Only this course."),
    from_file: Path = typer.Option(
        None, "--from-file", help="JSON lines with id and question; one JSON line out each."
    ),
    generator: str = typer.Option(None, help="Back end for this run: local, openai or extractive."),
) -> None:
    """Answer a question from the course material, with numbered citations."""
    app = common.open_app(generator=generator)
    rows = read_questions(question, from_file, app.settings.max_message_chars)
    for row in rows:
        if row.problem:
            _skip(row, from_file)
            continue
        answer = app.answers.answer(row.text, _filter(course))
        result = answer.to_dict()
        if from_file is not None:
            print(_json_line({**result, "id": row.id}))
        elif as_json:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            _print_answer(answer.answer, answer.citations)
    if any(row.problem for row in rows):
        raise typer.Exit(1)
