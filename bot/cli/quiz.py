"""``learnbot quiz generate|review``: draft quiz items from the lessons, then review them."""

from __future__ import annotations

import typer
from rich.console import Console

from bot.cli import common

quiz_cli = typer.Typer(help="Generated quiz items: draft them from the lessons, then review them.")


@quiz_cli.command("generate")
def quiz_generate(
    course: str = typer.Argument(..., help="The course to draft items for."),
    limit: int = typer.Option(20, help="Most chunks to draft from (one item each), spread over the lessons."),
    generator: str = typer.Option(
        None,
        help=(
            "local or openai: the LLM drafts, the extractive drafter is the fallback; extractive: no LLM."
            " Unnamed: the answer back end drafts unless it is the embedded model (too small to write items)."
        ),
    ),
) -> None:
    """Draft multiple-choice items from lesson chunks; those that pass the checks wait for review."""
    from knowledge.quizgen import REASONS

    app = common.open_app(generator=generator)
    with common.progress(f"drafting items for {course}") as progress:
        report = app.quizzes.generate(course, limit, use_llm=True if generator else None, progress=progress)
    by = report.stored_by()
    drafters = ", ".join(f"{count} by {name}" for name, count in sorted(by.items()))
    common.out.print(
        f"{course}: {len(report.stored)} drafts stored from {report.chunks} chunks"
        f"{f' ({drafters})' if drafters else ''}; {report.drafted_before} chunks had items already",
        highlight=False,
    )
    for drafter in dict.fromkeys(r.drafter for r in report.rejections):
        counts = report.rejected(drafter)
        common.out.print(
            f"  rejected from {drafter}: "
            + ", ".join(f"{n} {reason} ({REASONS[reason]})" for reason, n in counts.most_common()),
            highlight=False,
        )
    if report.stored:
        common.out.print(f"Review them with `learnbot quiz review {course}`.", highlight=False)


@quiz_cli.command("review")
def quiz_review(course: str = typer.Argument(None, help="Only this course's drafts.")) -> None:
    """Approve, edit or reject generated drafts; only approved items reach learners."""
    from bot.cli.quiz_review import review

    app = common.open_app()
    if course is not None and app.store.course(course) is None:
        raise common.CliError(f"no course with id {course!r}; `learnbot courses` lists them")
    drafts = app.quizzes.drafts(course)
    if not drafts:
        common.out.print("No drafts waiting. Draft some with `learnbot quiz generate COURSE`.")
        return
    # The review panels are markup with the course text escaped; emoji off, so ":x:" stays ":x:".
    tally = review(app.quizzes, drafts, Console(emoji=False))
    left = len(app.quizzes.drafts(course))
    common.out.print(f"{tally}; {left} drafts still waiting.", highlight=False)
