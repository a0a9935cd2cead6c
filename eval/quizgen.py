"""``python -m eval quizgen``: how good are generated quiz drafts on the IoT course?

Each language asked for (``--language en --language zh``) is ingested as its own course and scored
alone; ``quizgen-drafts.md`` lists every passed draft with its source sentence, for a human read.

Chunks are picked as ``learnbot quiz generate`` picks them (each lesson in turn). Each drafter
drafts one item per chunk with no fallback, so each is measured alone:

- **rejected by the checks**: the share of chunks whose draft is malformed or fails a check, by reason;
- **supported by retrieval**: for every parsed draft, the question plus its correct option is used as a
  query; the draft counts as supported when its source chunk's lesson is among the top 3 lessons the
  fused retriever ranks. Reported for all parsed drafts and for the ones that passed the checks.
- **the rubric, where a program can check it** (:mod:`knowledge.quizrubric`), over every parsed draft:
  a filler blank, a reference to a figure, the answer given away by its stem or expansion, a correct
  option that stands out by length or kind; and, over the drafts that passed, the item kinds and how
  often the correct option is the longest (chance is 1 / options).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from eval.common import app_with_courses, console, progress, write_report
from knowledge.cloze import ClozeDrafter
from knowledge.models import SearchFilter
from knowledge.quiz_llm import LLMDrafter
from knowledge.quizgen import BLANK, REASONS, Checker, Drafter, DraftItem, DraftRejected, pick_chunks
from knowledge.quizrubric import (
    also_right,
    answer_leak,
    chance_share,
    figure_reference,
    filler_blank,
    kind_mismatch,
    leans_on_context,
    length_giveaway,
    longest_share,
    split_blank,
)

COURSE = "iot-en"
LANGUAGES = ("en", "zh")
"""The IoT course's languages: each is ingested as its own course, ``iot-<language>``."""


@dataclass
class DrafterScore:
    """One drafter's outcomes over the picked chunks."""

    name: str
    chunks: int = 0
    parsed: int = 0
    accepted: list[DraftItem] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    supported_parsed: int = 0
    supported_accepted: int = 0
    seconds: float = 0.0
    examples: list[DraftItem] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    flags: Counter[str] = field(default_factory=Counter)
    """Rubric rule -> parsed drafts that break it."""
    clean: int = 0
    """Parsed drafts that break no rule of the rubric."""

    def kinds(self) -> Counter[str]:
        """Accepted items by kind: blank, definition, use, other."""
        return Counter(item_kind(d.question) for d in self.accepted)

    def longest(self) -> tuple[float, float]:
        """Share of accepted items whose correct option is the longest, and that share by chance."""
        items = [(d.options, d.answer) for d in self.accepted]
        return longest_share(items), chance_share(items)


RUBRIC = {
    "filler": "the blank is a common word or not a noun",
    "figure": "refers to an image or figure",
    "leak": "the question gives the answer away (stem, expansion)",
    "length": "the correct option stands out by length",
    "kind": "the correct option is of another kind than every distractor",
    "context": "the blanked sentence leans on one before it",
    "split": "the blank cuts a word or stands twice for one answer",
    "ambiguous": "a wrong option is right too (listed with the answer, or backed by the explanation)",
}
"""The rubric rules a program can check: name -> what a teacher would say."""


def item_kind(question: str) -> str:
    """``blank``, ``definition``, ``use`` or ``other``, from the question's shape."""
    if BLANK in question:
        return "blank"
    if question.startswith(("Which term does the lesson define", "课程中哪个术语")):
        return "definition"
    if question.startswith(("Which would you use", "要")):
        return "use"
    return "other"


def rubric_flags(draft: DraftItem) -> list[str]:
    """The rubric rules a draft breaks (see :data:`RUBRIC`)."""
    rules = {
        "filler": BLANK in draft.question and filler_blank(draft.correct),
        "figure": figure_reference(draft.question, *draft.options),
        "leak": answer_leak(draft.question.split(":", 1)[-1], draft.correct),
        "length": length_giveaway(draft.options, draft.answer),
        "kind": kind_mismatch(draft.options, draft.answer),
        "context": leans_on_context(draft.question),
        "split": split_blank(draft.question),
        "ambiguous": also_right(
            draft.question, draft.options, draft.answer, draft.chunk.text, draft.explanation
        ),
    }
    return [name for name, broken in rules.items() if broken]


def supported(app, draft: DraftItem) -> bool:  # noqa: ANN001
    """Whether the question plus its correct option retrieves the source chunk's lesson in the top 3."""
    query = f"{draft.question} {draft.correct}"
    lessons = app.retriever.lessons(query, 3, SearchFilter(course_ids=(draft.chunk.course_id,)))
    return (draft.chunk.course_id, draft.chunk.lesson_id) in lessons


def measure(app, drafter: Drafter, chunks: list) -> DrafterScore:  # noqa: ANN001
    """Draft from every chunk with one drafter, check each draft and test its support by retrieval."""
    score = DrafterScore(drafter.name)
    checker = Checker()
    with progress() as bar:
        task = bar.add_task(f"drafting with {drafter.name}", total=len(chunks))
        for chunk in chunks:
            score.chunks += 1
            started = time.perf_counter()
            try:
                draft = drafter.draft(chunk)
            except DraftRejected as rejected:
                score.seconds += time.perf_counter() - started
                score.rejected[rejected.reason] += 1
                score.failures.append((rejected.reason, rejected.detail))
                bar.advance(task)
                continue
            score.seconds += time.perf_counter() - started
            score.parsed += 1
            broken = rubric_flags(draft)
            score.flags.update(broken)
            score.clean += not broken
            is_supported = supported(app, draft)
            score.supported_parsed += is_supported
            try:
                checker.check(draft)
            except DraftRejected as rejected:
                score.rejected[rejected.reason] += 1
                score.failures.append((rejected.reason, f"{draft.question} -> {draft.correct!r}"))
            else:
                checker.add(draft.question)
                score.accepted.append(draft)
                score.supported_accepted += is_supported
            if len(score.examples) < 3:
                score.examples.append(draft)
            bar.advance(task)
    return score


def run(
    corpus: Path,
    out: Path,
    work: Path | None,
    chunks: int,
    use_llm: bool = True,
    languages: tuple[str, ...] = ("en",),
) -> list[DrafterScore]:
    """Ingest the IoT lessons of each language (USE embedder), draft with each drafter, write ``quizgen.md``.

    Every drafter is scored per language (``extractive (zh)``); the report lists every passed draft so a
    person can read and grade them.
    """
    scores: list[DrafterScore] = []
    with tempfile.TemporaryDirectory(prefix="learnbot-quizgen-") as tmp:
        courses = {f"iot-{language}": corpus / "lessons" / language for language in languages}
        app = app_with_courses(work or Path(tmp), "use", courses, generator="local")
        for language in languages:
            course_chunks = app.quizzes.course_chunks(f"iot-{language}")
            picked = pick_chunks(course_chunks, chunks)
            lessons = len({c.lesson_id for c in picked})
            console.print(f"{language}: {len(picked)} chunks from {lessons} lessons")
            drafters: list[Drafter] = [ClozeDrafter(course_chunks, app.live_records.keyword)]
            if use_llm:
                drafters.insert(0, LLMDrafter(app.generator))
            for drafter in drafters:
                score = measure(app, drafter, picked)
                score.name = f"{drafter.name} ({language})" if len(languages) > 1 else drafter.name
                scores.append(score)
    _report(scores, out, chunks, ", ".join(f"iot-{language}" for language in languages))
    return scores


def _share(n: int, total: int) -> str:
    return f"{n / total:.0%} ({n}/{total})" if total else "-"


def _report(scores: list[DrafterScore], out: Path, chunks: int, courses: str = COURSE) -> None:
    table = Table(title=f"Generated quiz drafts on {courses} (up to {chunks} chunks each)")
    headers = [
        "drafter",
        "parsed",
        "passed checks",
        "rejected",
        "supported (parsed)",
        "supported (passed)",
        "s / draft",
    ]
    for header in headers:
        table.add_column(header)
    lines = [
        "# Generated quiz items",
        "",
        f"Up to {chunks} chunks of each IoT course ({courses}), picked like `learnbot quiz generate`",
        "picks them (each lesson in turn). Each drafter drafts alone (no fallback).",
        "*Supported*: retrieving with the question plus the correct option puts the source chunk's",
        "lesson in the top 3 (fused retriever,",
        "USE embedder).",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    for s in scores:
        rejected = sum(s.rejected.values())
        cells = [
            s.name,
            _share(s.parsed, s.chunks),
            _share(len(s.accepted), s.chunks),
            _share(rejected, s.chunks),
            _share(s.supported_parsed, s.parsed),
            _share(s.supported_accepted, len(s.accepted)),
            f"{s.seconds / max(s.chunks, 1):.2f}",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Rejections by reason (share of chunks)", ""]
    for s in scores:
        reasons = ", ".join(
            f"{reason} {_share(n, s.chunks)} ({REASONS[reason]})" for reason, n in s.rejected.most_common()
        )
        lines.append(f"- **{s.name}**: {reasons or 'none'}")
        console.print(f"{s.name} rejected: {reasons or 'none'}")
    lines += ["", "## The rubric, automatic checks (share of parsed drafts that break a rule)", ""]
    for s in scores:
        flags = ", ".join(f"{name} {_share(s.flags[name], s.parsed)}" for name in RUBRIC)
        longest, chance = s.longest()
        kinds = ", ".join(f"{kind} {n}" for kind, n in s.kinds().most_common())
        lines.append(
            f"- **{s.name}**: {flags}; every rule passed by {_share(s.clean, s.parsed)}; "
            f"passed items by kind: {kinds or 'none'}; correct option the longest "
            f"in {longest:.0%} of passed items (chance {chance:.0%})"
        )
        console.print(
            f"{s.name} rubric: {flags}; all rules {_share(s.clean, s.parsed)}; kinds: {kinds}; "
            f"longest {longest:.0%} (chance {chance:.0%})"
        )
    lines += ["", "Rules: " + "; ".join(f"*{k}*: {v}" for k, v in RUBRIC.items()) + "."]
    lines += ["", "## Examples", ""]
    for s in scores:
        lines.append(f"### {s.name}")
        for draft in s.examples:
            options = "; ".join(f"**{o}**" if i == draft.answer else o for i, o in enumerate(draft.options))
            lines.append(f"- {draft.question} — {options}  ({draft.chunk.lesson_id})")
        for reason, detail in s.failures[:3]:
            lines.append(f"- rejected ({reason}): {detail[:200]}")
        lines.append("")
    console.print(table)
    path = write_report(out, "quizgen.md", "\n".join(lines) + "\n")
    console.print(f"report: {path}")
    drafts = ["# Every passed draft, to read and grade (correct option in bold)", ""]
    for s in scores:
        drafts += [f"## {s.name}", ""]
        for n, draft in enumerate(s.accepted, 1):
            options = "; ".join(f"**{o}**" if i == draft.answer else o for i, o in enumerate(draft.options))
            drafts.append(f"{n}. {draft.question} — {options}  ({draft.chunk.lesson_id})")
            drafts.append(f"   {draft.explanation}")
        drafts.append("")
    console.print(f"drafts: {write_report(out, 'quizgen-drafts.md', chr(10).join(drafts) + chr(10))}")
