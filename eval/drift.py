"""``python -m eval drift``: does refusing a model's answer that ignores its passages pay?

A question can pass the evidence check and still not be covered: its passages share words with it but
do not answer it. Shown such passages, a model writes what it knows instead, and the answer chain used
to quote the unrelated passages. The chain now refuses when the model's unsupported answer uses less
than ``DRIFT_REFUSAL`` of the passages' words and no passage holds half of the question's key terms
(``AnswerChain.drifted``). This measures that rule with
the product's local model on the IoT development sets, whole catalogue, from one generation per
question: what a learner gets with the rule off and on (refused / own words / quoted), for covered
questions (siblings, chat noise; both language courses loaded; Chinese questions on English-only
lessons with the partial catalogue) and for uncovered ones (near-domain and far-off), plus each
answer's support share, so a reader can see how far apart the two kinds lie.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from eval.common import Question, app_with_courses, console, progress, read_questions, write_report
from eval.grounding import DATASETS
from knowledge.answer import DRIFT_MAX_COVERAGE, DRIFT_MIN_WORDS, DRIFT_REFUSAL, AnswerChain
from knowledge.support import keep_supported, support_share


@dataclass
class Outcome:
    """One question through the chain: what the learner gets with the rule off and on."""

    set_name: str
    covered: bool
    question: str
    off: str  # refused / own words / quoted
    on: str
    share: float | None = None
    words: int = 0
    raw: str = ""


def outcome(chain: AnswerChain, q: Question, set_name: str) -> Outcome:
    """Ask ``q`` once (generation with the deadline lifted) and judge it with the drift rule off and on."""
    language = q.language or "en"
    hits, evidence = chain.evidence(q.question)
    if not hits or evidence.score() < chain.threshold:
        return Outcome(set_name, q.answerable, q.question, "refused", "refused")
    passages = hits[: chain.top_k]
    raw = chain.generator.generate(q.question, passages, [], language)
    if raw and keep_supported(raw, passages, language, chain.min_support, question=q.question):
        return Outcome(set_name, q.answerable, q.question, "own words", "own words", raw=raw)
    measured = support_share(raw, passages) if raw else None
    share, words = measured if measured else (None, 0)
    drifted = chain.drifted(raw, passages, [], evidence)
    return Outcome(
        set_name, q.answerable, q.question, "quoted", "refused" if drifted else "quoted", share, words, raw
    )


def run(corpus: Path, out: Path, work: Path, embedder: str = "use+minilm", only: str = "") -> list[Outcome]:
    """Every set through the chain with the product's local model; write ``drift.md``.

    ``only``: comma-separated set names to run (all when empty).
    """
    from eval.grounding import SAMPLES
    from eval.retrieval import PARTIAL_MODULES, partial_course
    from knowledge.loaders import load_course

    full = {"iot-en": corpus / "lessons/en", "iot-zh": corpus / "lessons/zh"}
    both = app_with_courses(work / "both", embedder, full)
    partial = app_with_courses(
        work / "partial", embedder, {"iot-en": full["iot-en"], "iot-zh": partial_course(corpus, work)}
    )
    security = ("security-basics", "security-basics-zh")
    samples = app_with_courses(work / "samples", embedder, {c: SAMPLES / c for c in security})
    for app in (both, partial, samples):
        app.answers.deadline_s = 600.0
        app.answers.generator.load()

    def dataset(name: str) -> list[Question]:
        return read_questions(DATASETS / name)

    written = [q for q in dataset("iot_zh_to_en.jsonl") if q.lesson_id.split("/")[0] not in PARTIAL_MODULES]
    sets = [
        ("siblings", both, dataset("iot_siblings.jsonl")),
        ("noise", both, dataset("iot_covered_noise.jsonl")),
        ("zh→en-only (partial)", partial, written),
        ("near-domain", both, dataset("iot_near_domain.jsonl")),
        ("far", both, dataset("uncovered.jsonl")),
        (
            "near-domain (partial)",
            partial,
            [q for q in dataset("iot_near_domain.jsonl") if q.language == "zh"],
        ),
        # Held out: the bundled security courses (never used to choose anything), their own quiz
        # questions covered, the far-off set not.
        (
            "held out: security quiz",
            samples,
            _quiz(load_course(SAMPLES / security[0]), "en") + _quiz(load_course(SAMPLES / security[1]), "zh"),
        ),
        ("held out: far-off (security courses)", samples, dataset("uncovered.jsonl")),
    ]
    if only:
        wanted = {name.strip() for name in only.split(",")}
        sets = [entry for entry in sets if entry[0] in wanted]
    outcomes: list[Outcome] = []
    with progress() as bar:
        for name, app, questions in sets:
            task = bar.add_task(name, total=len(questions))
            for q in questions:
                language = q.language or ("zh" if q.qid.startswith("zh") else "en")
                q = Question(q.qid, q.question, q.lesson_id, q.answerable, language=language)
                outcomes.append(outcome(app.answers, q, f"{name} {language}"))
                bar.advance(task)
    write_report(out, "drift.md", report(outcomes))
    lines = [json.dumps(o.__dict__, ensure_ascii=False) for o in outcomes if o.off != "refused"]
    (out / "drift_answers.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.print(report(outcomes), markup=False)
    return outcomes


def _quiz(course, language: str) -> list[Question]:  # noqa: ANN001
    """A course's own quiz questions, covered, with the lesson each belongs to."""
    return [
        Question(f"{course.course_id}-{n}", item.question, lesson.lesson_id, True, language=language)
        for lesson in course.lessons
        for n, item in enumerate(lesson.quiz)
    ]


def report(outcomes: list[Outcome]) -> str:
    """One row per set: what learners get with the rule off and on, and the support shares of quotes."""
    lines = [
        "# Refusing answers the passages do not hold (drift rule)",
        "",
        f"Rule: an unsupported answer of at least {DRIFT_MIN_WORDS} words that uses less than "
        f"{DRIFT_REFUSAL:.0%} of its passages' words, when no passage holds {DRIFT_MAX_COVERAGE:.0%} of "
        "the question's key terms, is refused instead of quoting the passages.",
        "",
        "| set | n | refused, rule off | refused, rule on | own words | quoted, off / on "
        "| support shares of the quoted |",
        "|---|---|---|---|---|---|---|",
    ]
    names = list(dict.fromkeys(o.set_name for o in outcomes))
    for name in names:
        rows = [o for o in outcomes if o.set_name == name]
        off, on = Counter(o.off for o in rows), Counter(o.on for o in rows)
        shares = sorted(f"{o.share:.2f}" for o in rows if o.off == "quoted" and o.share is not None)
        n = len(rows)
        lines.append(
            f"| {name} | {n} | {off['refused'] / n:.2f} | {on['refused'] / n:.2f} "
            f"| {on['own words'] / n:.2f} | {off['quoted'] / n:.2f} / {on['quoted'] / n:.2f} "
            f"| {', '.join(shares) or '-'} |"
        )
    return "\n".join(lines) + "\n"
