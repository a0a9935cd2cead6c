"""``python -m eval``: Learnbot's measurements. Each subcommand writes a Markdown report (and plots)."""

from __future__ import annotations

from pathlib import Path

import typer

from eval.common import IOT, OULAD, console

app = typer.Typer(help="Measure Learnbot: retrieval, answers, learners, speed.", no_args_is_help=True)

# Options every subcommand shares.
CORPUS = typer.Option(IOT, help="IoT-for-Beginners corpus folder (lessons/, quizzes.*.jsonl).")
OUT = typer.Option(Path("eval-out"), help="Folder for the report and plots.")
WORK = typer.Option(Path("eval-out/indexes"), help="Folder for the cached indexes.")
EMBEDDER = typer.Option("use+minilm", help="Embedder of the index.")


def _require(corpus: Path) -> None:
    """Stop with a clear message when the corpus folder is missing (e.g. no ../shared beside the checkout)."""
    if not corpus.is_dir():
        console.print(f"[red]corpus not found: {corpus}[/red]")
        raise typer.Exit(2)


def _ints(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


@app.callback()
def main() -> None:
    """Measure Learnbot; every subcommand writes a Markdown report into its output folder."""


@app.command()
def retrieval(
    corpus: Path = CORPUS,
    embedders: str = typer.Option("use+minilm", help="Embedders to compare: use+minilm, use."),
    out: Path = OUT,
    work: Path = WORK,
    quick: bool = typer.Option(False, help="The first 12 questions of each set (a smoke run)."),
) -> None:
    """Lesson-level R@1/3/5 and MRR@10, unfiltered, against the plain anchor pipeline in the same run."""
    from eval import retrieval as retrieval_eval

    _require(corpus)
    retrieval_eval.run(corpus, [e.strip() for e in embedders.split(",") if e.strip()], out, work, quick)


@app.command()
def grounding(corpus: Path = CORPUS, embedder: str = EMBEDDER, out: Path = OUT, work: Path = WORK) -> None:
    """Fit the grounding model and choose the refusal threshold (covered vs uncovered questions)."""
    from eval import grounding as grounding_eval

    _require(corpus)
    grounding_eval.run(corpus, embedder, out, work)


@app.command()
def answers(
    corpus: Path = CORPUS,
    uncovered: Path = typer.Option(
        Path(__file__).parent / "datasets" / "uncovered.jsonl",
        help='Questions the course does not cover (JSON lines: {"question", "lesson_id", "answerable"}).',
    ),
    quiz_questions: int = typer.Option(
        40, help="Quiz questions per language for the model-free baseline (0: all)."
    ),
    llm_questions: int = typer.Option(20, help="Quiz questions per language for the (slow) local LLM."),
    citation_llm_questions: int = typer.Option(8, help="Questions per language answered by the local LLM."),
    llm: bool = typer.Option(True, "--llm/--no-llm", help="Also measure the local LLM (slow on CPU)."),
    embedder: str = EMBEDDER,
    out: Path = OUT,
    work: Path = WORK,
) -> None:
    """Quiz accuracy per back end (vs chance and no passages), citation accuracy, refusal curve."""
    from eval import answers as answers_eval

    _require(corpus)
    answers_eval.run(
        corpus, out, work, embedder, quiz_questions, llm_questions, citation_llm_questions, uncovered, llm
    )


@app.command()
def models(
    corpus: Path = CORPUS,
    per_language: int = typer.Option(6, help="Development questions per language."),
    threads: int = typer.Option(1, help="llama.cpp threads (LEARNBOT_LLM_THREADS)."),
    transformers_qwen: bool = typer.Option(False, help="Also run the new model through transformers."),
    embedder: str = EMBEDDER,
    out: Path = OUT,
    work: Path = WORK,
) -> None:
    """Old vs new embedded default model in one run: supported share, citations, TTFT, tokens/s, RAM."""
    from eval import compare_models

    _require(corpus)
    compare_models.run(
        corpus, out, work, embedder, per_language, threads, transformers_qwen=transformers_qwen
    )


@app.command()
def drift(
    corpus: Path = CORPUS,
    embedder: str = EMBEDDER,
    out: Path = OUT,
    work: Path = WORK,
    only: str = typer.Option("", help="Comma-separated set names to run (all when empty)."),
) -> None:
    """Refusing a model answer that ignores its passages: learners' outcomes with the rule off and on."""
    from eval import drift as drift_eval

    _require(corpus)
    drift_eval.run(corpus, out, work, embedder, only)


@app.command()
def bench(
    corpus: Path = CORPUS,
    embedder: str = EMBEDDER,
    out: Path = OUT,
    local_questions: int = typer.Option(8, help="Questions for the (slow) local back end's console latency."),
    sizes: str = typer.Option(
        "1000,10000,100000", help="Index sizes (synthetic chunks) for retrieval latency."
    ),
    generation_questions: int = typer.Option(
        6, help="Answers for generation speed before / after (0: skip)."
    ),
) -> None:
    """Ingestion vs the raw embedder, retrieval latency by index size, generation speed, answer latency."""
    from eval import bench as bench_eval

    _require(corpus)
    bench_eval.run(corpus, embedder, out, local_questions, tuple(_ints(sizes)), generation_questions)


@app.command()
def load(
    corpus: Path = CORPUS,
    learners: str = typer.Option("50,200", help="Comma-separated numbers of simulated learners."),
    per_learner: int = typer.Option(2, help="Questions each learner sends."),
    out: Path = OUT,
    work: Path = WORK,
    replicas: str = typer.Option(
        "", help="Replicas mode, e.g. 1,2: that many `serve slack` processes on PostgreSQL, and SQLite."
    ),
    postgres: str = typer.Option("postgresql:///postgres", help="Where replicas mode creates its databases."),
) -> None:
    """Simulated learners through the real Telegram stack (fake Bot API) and the console path."""
    from eval import load as load_eval

    if replicas:
        from eval.common import write_report
        from eval.load_replicas import report, run_replicas

        rows = run_replicas(work / "load-replicas", _ints(learners), _ints(replicas), postgres, per_learner)
        print(report(rows, per_learner))
        print(f"report: {write_report(out, 'load-replicas.md', report(rows, per_learner))}")
        return
    _require(corpus)
    load_eval.run(corpus, out, work / "load", _ints(learners), per_learner)


@app.command()
def pushes(
    learners: int = typer.Option(100_000, help="Simulated learners (5 review cards each)."),
    out: Path = OUT,
) -> None:
    """Time the due-quiz job's selection against a plain indexed count; report the database size."""
    from eval import pushes as pushes_eval

    pushes_eval.run(learners, out)


@app.command()
def quizgen(
    corpus: Path = CORPUS,
    chunks: int = typer.Option(40, help="Chunks to draft from (each lesson in turn)."),
    llm: bool = typer.Option(True, "--llm/--no-llm", help="Also measure the local LLM drafter (slow on CPU)"),
    out: Path = OUT,
    work: Path = typer.Option(None, help="Data dir to keep the index in (default: a temporary one)."),
    language: list[str] = typer.Option(["en"], help="Course language(s): en, zh (repeat for both)."),
) -> None:
    """Generated quiz drafts: share rejected by the checks, share supported by retrieval (LLM, extractive)."""
    from eval import quizgen as quizgen_eval

    _require(corpus)
    unknown = set(language) - set(quizgen_eval.LANGUAGES)
    if unknown:
        raise typer.BadParameter(f"unknown language(s): {', '.join(sorted(unknown))}")
    quizgen_eval.run(corpus, out, work, chunks, llm, tuple(language))


@app.command(name="backup")
def backup_bench(
    corpus: Path = CORPUS,
    learners: int = typer.Option(30_000, help="Synthetic learners' progress added to the database."),
    out: Path = typer.Option(
        Path("eval-out/rights"), help="Folder for the data dir, the backup and the report."
    ),
) -> None:
    """Backup and restore time for the IoT course plus N learners' synthetic progress."""
    from eval import backup_bench as backup_eval

    _require(corpus)
    backup_eval.run(corpus, learners, out)


@app.command()
def learner(
    oulad: Path = typer.Option(OULAD, help="OULAD folder (studentInfo.csv, studentAssessment.csv, ...)."),
    out: Path = typer.Option(Path("eval-out/recommender"), help="Folder for the report and plot."),
    save: bool = typer.Option(True, "--save/--no-save", help="Write the product model file."),
) -> None:
    """At-risk model on OULAD: ROC-AUC and precision@10% at day 30/60/90 against mean score so far."""
    from eval import learner as learner_eval

    _require(oulad)
    learner_eval.run(oulad, out, save)


@app.command()
def recommender(
    oulad: Path = typer.Option(OULAD, help="OULAD folder (assessment sequences); skipped when absent."),
    learners: int = typer.Option(3000, help="Simulated learner histories."),
    scale: int = typer.Option(30_000, help="Learners for the fitting and digest timing (0: skip)."),
    out: Path = typer.Option(Path("eval-out/recommender"), help="Folder for the report."),
) -> None:
    """Next-lesson NDCG@5 / Recall@5 vs popularity and course order, violations, 30k-learner timing."""
    from eval import recommender as recommender_eval

    recommender_eval.run(oulad, out, learners, scale)


@app.command(name="all")
def all_(
    corpus: Path = CORPUS,
    oulad: Path = typer.Option(OULAD, help="OULAD folder (learner and recommender evals)."),
    out: Path = OUT,
    work: Path = WORK,
    quick: bool = typer.Option(False, help="Smaller samples everywhere (a smoke run of every step)."),
) -> None:
    """Everything that fits in ~20 minutes here, into one report with a table of contents (report.md)."""
    from eval import all as all_eval

    _require(corpus)
    all_eval.run(corpus, oulad, out, work, quick)


if __name__ == "__main__":
    app()
