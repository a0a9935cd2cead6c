"""``python -m eval``: Learnbot's measurements. Each subcommand writes a Markdown report."""

from __future__ import annotations

from pathlib import Path

import typer

from eval.common import IOT, console

app = typer.Typer(help="Measure Learnbot: retrieval quality, answers, speed.", no_args_is_help=True)


def _require(corpus: Path) -> None:
    """Stop with a clear message when the corpus folder is missing (e.g. no ../shared beside the checkout)."""
    if not corpus.is_dir():
        console.print(f"[red]corpus not found: {corpus}[/red]")
        raise typer.Exit(2)


@app.callback()
def main() -> None:
    """Measure Learnbot; every subcommand writes a Markdown report into its output folder."""


@app.command()
def retrieval(
    corpus: Path = typer.Option(IOT, help="IoT-for-Beginners corpus folder (lessons/, quizzes.*.jsonl)."),
    embedders: str = typer.Option("use,minilm", help="Comma-separated embedders to compare."),
    out: Path = typer.Option(Path("eval-out"), help="Folder for the report."),
    work: Path = typer.Option(Path("eval-out/indexes"), help="Folder for the cached indexes."),
) -> None:
    """Lesson-level Recall@1/3/5 and MRR@10: BM25, each embedder, fused; en, zh and zh-over-en."""
    from eval import retrieval as retrieval_eval

    _require(corpus)
    retrieval_eval.run(corpus, [e.strip() for e in embedders.split(",") if e.strip()], out, work)


@app.command()
def grounding(
    corpus: Path = typer.Option(IOT, help="IoT-for-Beginners corpus folder."),
    embedder: str = typer.Option("use", help="Embedder of the index."),
    out: Path = typer.Option(Path("eval-out"), help="Folder for the report."),
    work: Path = typer.Option(Path("eval-out/indexes"), help="Folder for the cached indexes."),
) -> None:
    """Fit the grounding model and choose the refusal threshold (covered vs uncovered questions)."""
    from eval import grounding as grounding_eval

    _require(corpus)
    grounding_eval.run(corpus, embedder, out, work)


@app.command()
def bench(
    corpus: Path = typer.Option(IOT, help="IoT-for-Beginners corpus folder."),
    embedder: str = typer.Option("use", help="Embedder to measure."),
    out: Path = typer.Option(Path("eval-out"), help="Folder for the report."),
    local_questions: int = typer.Option(8, help="Questions for the (slow) local LLM back end."),
) -> None:
    """Ingestion throughput against the raw embedder, re-ingest time, retrieval and ask latency."""
    from eval import bench as bench_eval

    _require(corpus)
    bench_eval.run(corpus, embedder, out, local_questions)


@app.command()
def load(
    corpus: Path = typer.Option(IOT, help="IoT-for-Beginners corpus folder."),
    learners: str = typer.Option("50,200", help="Comma-separated numbers of simulated learners."),
    per_learner: int = typer.Option(2, help="Questions each learner sends."),
    out: Path = typer.Option(Path("eval-out"), help="Folder for the report."),
    work: Path = typer.Option(Path("eval-out/indexes"), help="Folder for the cached indexes."),
) -> None:
    """Simulated learners through the real Telegram stack (fake Bot API) and the console path."""
    from eval import load as load_eval

    _require(corpus)
    load_eval.run(corpus, out, work / "load", [int(n) for n in learners.split(",") if n.strip()], per_learner)


@app.command()
def pushes(
    learners: int = typer.Option(100_000, help="Simulated learners (5 review cards each)."),
    out: Path = typer.Option(Path("eval-out"), help="Folder for the report."),
) -> None:
    """Time the due-quiz job's selection against a plain indexed count; report the database size."""
    from eval import pushes as pushes_eval

    pushes_eval.run(learners, out)


@app.command()
def quizgen(
    corpus: Path = typer.Option(IOT, help="IoT-for-Beginners corpus folder."),
    chunks: int = typer.Option(40, help="Chunks to draft from (each lesson in turn)."),
    llm: bool = typer.Option(True, "--llm/--no-llm", help="Also measure the local LLM drafter (slow on CPU)"),
    out: Path = typer.Option(Path("eval-out"), help="Folder for the report."),
    work: Path = typer.Option(None, help="Data dir to keep the index in (default: a temporary one)."),
) -> None:
    """Generated quiz drafts: share rejected by the checks, share supported by retrieval (LLM, extractive)."""
    from eval import quizgen as quizgen_eval

    _require(corpus)
    quizgen_eval.run(corpus, out, work, chunks, llm)


if __name__ == "__main__":
    app()
