"""``python -m eval answers``: answer quality through the normal pipeline (retrieval + generator).

* Quiz accuracy: each IoT quiz question goes with its numbered options through retrieval and the
  generator, which must name one option. Back ends: the local LLM (with the retrieved passages and,
  to see whether retrieval helps, with none) and a model-free baseline that picks the option whose
  key terms the passages hold most (IDF-weighted). Chance is the mean of 1 / number of options.
* Citation accuracy: the share of answers (``AnswerChain.answer``) whose citations include the
  question's lesson, per back end; with the share of grounded answers that are the back end's own
  words (they passed the support check and were not replaced by quoted passages) and answer times.
* Refusals: covered quiz questions against ``eval/datasets/uncovered.jsonl`` (or any question file),
  the refusal curve over the grounding threshold with the configured value marked.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from langchain_core.messages import HumanMessage, SystemMessage
from rich.table import Table

from bot.config import Settings
from eval.common import Question, app_with_courses, console, progress, read_questions, write_report
from eval.followups import FollowUps, read_pairs, report_lines
from eval.followups import measure as follow_ups
from eval.grounding import DATASETS, Case, collect, rates
from knowledge.generation import build_messages, make_generator
from knowledge.generation.packaged import SMOLLM2_135M
from knowledge.local_llm import LocalGenerator
from knowledge.models import ScoredChunk, SearchFilter
from knowledge.text import tokenize

LANGUAGES = {
    "en": ("quizzes.en.jsonl", "iot-en", "lessons/en"),
    "zh": ("quizzes.zh-cn.jsonl", "iot-zh", "lessons/zh"),
}
PREFIX = {"en": "The correct option is number ", "zh": "正确选项的编号是 "}
ASK = {
    "en": "Options:\n{options}\nWhich option is correct? Reply with its number.",
    "zh": "选项：\n{options}\n哪个选项正确？请回答它的编号。",
}
JUDGE = {
    "en": "Question: {question}\nDo the passages above answer this question? Reply yes or no.",
    "zh": "问题：{question}\n上面的段落能回答这个问题吗？请回答 yes 或 no。",
}
NO_PASSAGES_SYSTEM = {
    "en": "You answer multiple-choice questions about computing and the Internet of Things.",
    "zh": "你回答关于计算机和物联网的选择题。",
}


@dataclass
class Tally:
    """Right answers out of asked ones, for one condition."""

    right: int = 0
    asked: int = 0
    unparsed: int = 0

    def add(self, ok: bool, parsed: bool = True) -> None:
        """Count one answer."""
        self.asked += 1
        self.right += ok
        self.unparsed += not parsed

    def __str__(self) -> str:
        return f"{self.right / self.asked:.2f} ({self.right}/{self.asked})" if self.asked else "-"


@dataclass
class Results:
    """Everything ``eval answers`` measured."""

    quiz: dict[tuple[str, str], Tally] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    citations: dict[tuple[str, str], tuple[Tally, int]] = field(default_factory=dict)
    own_words: dict[tuple[str, str], Tally] = field(default_factory=dict)
    """Grounded answers that are the back end's own words (passed the support check, not quoted)."""
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    refusals: dict[str, tuple[float, float]] = field(default_factory=dict)
    threshold: float = 0.0
    judged: dict[tuple[str, bool], Tally] = field(default_factory=dict)  # "no" replies of covered / not
    followups: dict[str, dict[str, FollowUps]] = field(default_factory=dict)
    """Follow-up turns per back end, then language (:mod:`eval.followups`)."""


def sample(questions: list[Question], n: int) -> list[Question]:
    """``n`` questions spread evenly over the file (every lesson gets its turn), all when ``n`` is 0."""
    if not n or n >= len(questions):
        return questions
    return [questions[round(i * len(questions) / n)] for i in range(n)]


def quiz_text(q: Question, language: str) -> str:
    """The question followed by its numbered options."""
    options = "\n".join(f"{n}. {o}" for n, o in enumerate(q.options, start=1))
    return f"{q.question}\n{ASK[language].format(options=options)}"


def parse_choice(reply: str, options: tuple[str, ...]) -> int | None:
    """The option the reply names: its first option number, else the option whose words it repeats."""
    for match in re.finditer(r"\d+", reply):
        n = int(match.group())
        if 1 <= n <= len(options):
            return n - 1
        break
    words = set(tokenize(reply))
    overlaps = [len(words & set(tokenize(o))) / max(len(set(tokenize(o))), 1) for o in options]
    best = max(range(len(options)), key=lambda i: overlaps[i]) if options else None
    return best if best is not None and overlaps[best] >= 0.5 else None


def similarity_choice(q: Question, passages: list[ScoredChunk], document_frequency, size: int) -> int:  # noqa: ANN001
    """Model-free baseline: the option whose key terms (IDF-weighted) the passages hold most."""
    held = set()
    for p in passages:
        held.update(tokenize(p.chunk.text))
    rarest = 1.0 / max(size, 1)

    def score(option: str) -> float:
        terms = set(tokenize(option)) - set(tokenize(q.question))
        weights = {t: -math.log(max(document_frequency(t), rarest)) for t in terms}
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in held) / total if total else 0.0

    return max(range(len(q.options)), key=lambda i: (score(q.options[i]), -i))


def ask_llm(generator, q: Question, language: str, passages: list[ScoredChunk] | None) -> int | None:  # noqa: ANN001
    """The LLM's option for ``q``: with the bot's answer prompt over ``passages``, or with no passages."""
    if passages is None:
        messages = [SystemMessage(NO_PASSAGES_SYSTEM[language]), HumanMessage(quiz_text(q, language))]
    else:
        messages = build_messages(quiz_text(q, language), passages, [], language)
    if hasattr(generator, "choose"):  # a local model names one option: its likeliest option number
        numbers = [str(n) for n in range(1, len(q.options) + 1)]
        for digits, prefix in (
            (numbers, PREFIX[language]),
            ([f" {n}" for n in numbers], PREFIX[language].rstrip()),
        ):
            choice = generator.choose(messages, digits, prefix)  # None when the digits' first tokens clash
            if choice is not None:
                return choice
    prefix = PREFIX[language] if getattr(generator, "prefills", False) else ""
    reply = generator.chat(messages, max_new_tokens=8, prefix=prefix)[len(prefix) :]
    digit = re.match(r"\s*(\d)", reply) if prefix else None
    if digit and 1 <= int(digit.group(1)) <= len(q.options):  # the digit written right after the steer
        return int(digit.group(1)) - 1
    return parse_choice(reply, q.options)


def quiz_accuracy(app, generator, questions: dict[str, list[Question]], results: Results) -> None:  # noqa: ANN001
    """Each quiz question with its options through retrieval and each back end."""
    chain = app.answers
    for language, items in questions.items():
        course_id = LANGUAGES[language][1]
        results.chance[language] = float(np.mean([1 / len(q.options) for q in items]))
        with progress() as bar:
            task = bar.add_task(f"quiz {language}", total=len(items))
            for q in items:
                hits, _ = chain.evidence(q.question, SearchFilter(course_ids=(course_id,)))
                passages = hits[: chain.top_k]
                if generator is None:
                    vocabulary = chain.vocabulary()
                    pick = similarity_choice(q, passages, vocabulary.document_frequency, vocabulary.size())
                    results.quiz.setdefault((language, "similarity baseline (no LLM)"), Tally()).add(
                        pick == q.correct_index
                    )
                else:
                    for label, given in (("with passages", passages), ("no passages", None)):
                        choice = ask_llm(generator, q, language, given)
                        name = getattr(generator, "label", generator.name)
                        results.quiz.setdefault((language, f"{name} LLM, {label}"), Tally()).add(
                            choice == q.correct_index, choice is not None
                        )
                bar.advance(task)


def citation_accuracy(chain, name: str, questions: dict[str, list[Question]], results: Results) -> None:  # noqa: ANN001
    """Share of answers whose citations include the question's lesson (refusals count as misses)."""
    for language, items in questions.items():
        course_id = LANGUAGES[language][1]
        tally, refused, own, seconds = Tally(), 0, Tally(), []
        with progress() as bar:
            task = bar.add_task(f"citations {name} {language}", total=len(items))
            for q in items:
                answer = chain.answer(q.question, SearchFilter(course_ids=(course_id,)))
                refused += not answer.grounded
                tally.add(any(c.lesson_id == q.lesson_id for c in answer.citations))
                if answer.grounded:
                    own.add("fallback" not in answer.backend)
                seconds.append(answer.latency_ms / 1000)
                bar.advance(task)
        results.citations[(language, name)] = (tally, refused)
        results.own_words[(language, name)] = own
        results.seconds[(language, name)] = seconds


def refusal_curve(
    app, corpus: Path, uncovered_file: Path, threshold: float, out: Path, results: Results
) -> None:  # noqa: ANN001
    """Covered vs uncovered refusal rates over the threshold (the bot's own grounding weights)."""
    uncovered = read_questions(uncovered_file)
    unc = {
        "en": [q for q in uncovered if not q.qid.startswith("zh")],
        "zh": [q for q in uncovered if q.qid.startswith("zh")],
    }
    covered = {lang: read_questions(corpus / spec[0]) for lang, spec in LANGUAGES.items()}

    def only(course_id: str) -> SearchFilter:
        return SearchFilter(course_ids=(course_id,))

    groups: dict[str, list[Case]] = {
        "English": collect(app, covered["en"], True, "covered en", only("iot-en"))
        + collect(app, unc["en"], False, "uncovered en", only("iot-en")),
        "Chinese": collect(app, covered["zh"], True, "covered zh", only("iot-zh"))
        + collect(app, unc["zh"], False, "uncovered zh", only("iot-zh")),
        "Chinese question, English lessons": collect(
            app, covered["zh"], True, "covered zh>en", only("iot-en")
        )
        + collect(app, unc["zh"], False, "uncovered zh>en", only("iot-en")),
    }
    grid = np.round(np.arange(0.05, 0.96, 0.025), 3)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, cases in groups.items():
        results.refusals[name] = rates(cases, None, threshold)
        curve = [rates(cases, None, t) for t in grid]
        ax.plot(grid, [c[0] for c in curve], label=f"{name}: uncovered refused")
        ax.plot(grid, [c[1] for c in curve], linestyle="--", label=f"{name}: covered wrongly refused")
    ax.axvline(threshold, color="black", linewidth=1, label=f"chosen {threshold:.2f}")
    ax.axhline(0.9, color="grey", linewidth=0.5)
    ax.axhline(0.05, color="grey", linewidth=0.5)
    ax.set_xlabel("grounding threshold")
    ax.set_ylabel("share refused")
    ax.legend(fontsize=6)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "answers_refusals.png", dpi=110)
    plt.close(fig)


def judge(
    app, generator, questions: dict[str, list[Question]], unc: dict[str, list[Question]], results: Results
) -> None:  # noqa: ANN001
    """The LLM's own judgement as a grounding signal: does it say the passages do not answer?"""
    for language, course_id in (("en", "iot-en"), ("zh", "iot-zh")):
        for covered, items in ((True, questions[language]), (False, unc[language])):
            tally = results.judged.setdefault((language, covered), Tally())
            with progress() as bar:
                task = bar.add_task(
                    f"judge {language} {'covered' if covered else 'uncovered'}", total=len(items)
                )
                for q in items:
                    hits, _ = app.answers.evidence(q.question, SearchFilter(course_ids=(course_id,)))
                    messages = build_messages(q.question, hits[: app.answers.top_k], [], language)
                    messages[-1] = HumanMessage(JUDGE[language].format(question=q.question))
                    reply = generator.chat(messages, max_new_tokens=3).strip().lower()
                    tally.add(
                        reply.startswith("no") or reply.startswith("不"), reply[:1] in ("y", "n", "是", "不")
                    )
                    bar.advance(task)


def run(
    corpus: Path,
    out: Path,
    work: Path,
    embedder: str = "use",
    quiz_questions: int = 40,
    llm_questions: int = 20,
    citation_llm_questions: int = 8,
    uncovered: Path = DATASETS / "uncovered.jsonl",
    llm: bool = True,
    judge_questions: int = 10,
) -> Results:
    """Measure quiz accuracy, citation accuracy and refusals; write ``answers.md`` and a plot."""
    courses = {spec[1]: corpus / spec[2] for spec in LANGUAGES.values()}
    app = app_with_courses(work, embedder, courses, generator="extractive")
    threshold = Settings.load(env={}).grounding_threshold
    results = Results(threshold=threshold)
    quiz = {lang: read_questions(corpus / spec[0]) for lang, spec in LANGUAGES.items()}
    generator = None
    generators = []
    if llm:  # the new embedded default and the old one, measured in the same run
        generator = make_generator("local", data_dir=work / embedder)
        generator.label = "new default"
        old = LocalGenerator(work / embedder, packaged=SMOLLM2_135M.key)
        old.label = "old default (SmolLM2-135M)"
        generators = [generator, old]
        for each in generators:
            each.load()
    # The model-free baseline sees quiz_questions per language, the slow LLM the first llm_questions
    # of those (spread over the file the same way).
    baseline = {lang: sample(items, quiz_questions) for lang, items in quiz.items()}
    quiz_accuracy(app, None, baseline, results)
    for each in generators:
        quiz_accuracy(
            app, each, {lang: sample(items, llm_questions) for lang, items in quiz.items()}, results
        )
    citation_accuracy(app.answers, "extractive", baseline, results)
    pairs = read_pairs()
    results.followups["extractive"] = follow_ups(app.answers, pairs)
    for each in generators:
        local_chain = copy.copy(app.answers)
        local_chain.generator = each
        sampled = {lang: sample(items, citation_llm_questions) for lang, items in quiz.items()}
        citation_accuracy(local_chain, each.label, sampled, results)
        if each is generator:  # the old default's 42 more answers would take a quarter of an hour
            results.followups[each.label] = follow_ups(local_chain, pairs)
    refusal_curve(app, corpus, uncovered, threshold, out, results)
    if generator is not None and judge_questions:
        unc = read_questions(uncovered)
        by_language = {
            "en": sample([q for q in unc if not q.qid.startswith("zh")], judge_questions),
            "zh": sample([q for q in unc if q.qid.startswith("zh")], judge_questions),
        }
        judge(
            app,
            generator,
            {lang: sample(items, judge_questions) for lang, items in quiz.items()},
            by_language,
            results,
        )
    write_report(out, "answers.md", report(results))
    return results


def report(results: Results) -> str:
    """Print the tables and return the Markdown."""
    lines = ["# Answer quality", "", "## Quiz accuracy (the assistant must name one option)", ""]
    lines += ["| language | back end | accuracy | chance | unparsed replies |", "|---|---|---|---|---|"]
    table = Table("language", "back end", "accuracy", "chance", title="Quiz accuracy")
    for (language, name), tally in sorted(results.quiz.items()):
        chance = f"{results.chance.get(language, float('nan')):.2f}"
        lines.append(f"| {language} | {name} | {tally} | {chance} | {tally.unparsed} |")
        table.add_row(language, name, str(tally), chance)
    console.print(table)
    lines += ["", "## Citation accuracy (citations include the question's lesson)", ""]
    lines += [
        "| language | back end | citation accuracy | refused | own words, supported | answer p50 / p95 s |",
        "|---|---|---|---|---|---|",
    ]
    for (language, name), (tally, refused) in sorted(results.citations.items()):
        own = results.own_words.get((language, name), Tally())
        seconds = results.seconds.get((language, name)) or [float("nan")]
        p50, p95 = np.percentile(seconds, 50), np.percentile(seconds, 95)
        lines.append(f"| {language} | {name} | {tally} | {refused} | {own} | {p50:.1f} / {p95:.1f} |")
    lines += ["", f"## Refusals at the configured grounding threshold {results.threshold:.2f}", ""]
    lines += [
        "| group | uncovered refused | covered wrongly refused | goal (>= 0.90, <= 0.05) |",
        "|---|---|---|---|",
    ]
    for name, (refused, wrong) in results.refusals.items():
        met = "met" if refused >= 0.9 and wrong <= 0.05 else "not met"
        lines.append(f"| {name} | {refused:.2f} | {wrong:.2f} | {met} |")
    lines += ["", "![refusal curves](answers_refusals.png)", ""]
    if results.followups:
        lines += report_lines(results.followups)
    if results.judged:
        lines += [
            "## The generator's own judgement as a further signal",
            "",
            "The local LLM sees the retrieved passages and is asked whether they answer the question.",
            "",
            "| language | covered: says no | uncovered: says no | replies that were not yes/no |",
            "|---|---|---|---|",
        ]
        for language in ("en", "zh"):
            cov, unc = (
                results.judged.get((language, True), Tally()),
                results.judged.get((language, False), Tally()),
            )
            lines.append(f"| {language} | {cov} | {unc} | {cov.unparsed + unc.unparsed} |")
        lines.append("")
    markdown = "\n".join(lines) + "\n"
    console.print(markdown)
    return markdown
