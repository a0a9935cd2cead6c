"""Follow-up turns: does an answer use the conversation?

Each pair in ``eval/datasets/iot_followups.jsonl`` (written on IoT-for-Beginners) is a first question
that names its topic and a follow-up that does not ("How accurate can that get?"). The follow-up is
asked twice through the answer chain, over the whole catalogue: after the first answer (with the
conversation) and cold (without it). Judged per back end and language:

* **cites the lesson with the conversation**: the follow-up's citations include the pair's lesson;
* **cites it cold**: the same without the conversation (how much the conversation adds);
* **new answer**: the follow-up is answered with something other than the first answer (the failure
  this guards against is the same quoted passage twice);
* **own words**: the follow-up's answer passed the support check in the back end's own words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from eval.common import progress
from knowledge.answer import QUOTED, AnswerChain
from knowledge.generation import Turn

FOLLOW_UPS = Path(__file__).parent / "datasets" / "iot_followups.jsonl"
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,，]\s*\d+)*\]")


@dataclass
class FollowUps:
    """Counts for one back end and language."""

    pairs: int = 0
    cited: int = 0
    cited_cold: int = 0
    new_answer: int = 0
    own_words: int = 0
    samples: list[tuple[str, str, str]] = field(default_factory=list)


def read_pairs(path: Path = FOLLOW_UPS) -> list[dict]:
    """The follow-up pairs, one JSON object a line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(chain: AnswerChain, pairs: list[dict]) -> dict[str, FollowUps]:
    """Ask every pair through ``chain`` (first, follow-up with the conversation, follow-up cold)."""
    found: dict[str, FollowUps] = {}
    with progress() as bar:
        task = bar.add_task(
            f"follow-ups {getattr(chain.generator, 'label', chain.generator.name)}", total=len(pairs)
        )
        for pair in pairs:
            row = found.setdefault(pair["language"], FollowUps())
            first = chain.answer(pair["first"])
            history = [Turn(pair["first"], first.answer)]
            follow = chain.answer(pair["follow_up"], history=history)
            cold = chain.answer(pair["follow_up"])
            row.pairs += 1
            row.cited += any(c.lesson_id == pair["lesson_id"] for c in follow.citations)
            row.cited_cold += any(c.lesson_id == pair["lesson_id"] for c in cold.citations)
            row.new_answer += follow.grounded and _plain(follow.answer) != _plain(first.answer)
            row.own_words += follow.grounded and not any(q in follow.answer for q in QUOTED.values())
            if len(row.samples) < 2:
                row.samples.append((pair["first"], pair["follow_up"], follow.answer))
            bar.advance(task)
    return found


def report_lines(rows: dict[str, dict[str, FollowUps]]) -> list[str]:
    """A Markdown section: one row per back end and language, then a few follow-up answers."""
    lines = [
        "## Follow-up turns (is the conversation used?)",
        "",
        f"Pairs from `{FOLLOW_UPS.name}`: a first question, then a follow-up that does not name its topic, "
        "asked with the conversation and cold, over the whole catalogue.",
        "",
        "| language | back end | cites the lesson | cites it cold | new answer | own words |",
        "|---|---|---|---|---|---|",
    ]
    for name, by_language in rows.items():
        for language, row in sorted(by_language.items()):
            n = row.pairs
            lines.append(
                f"| {language} | {name} | {row.cited}/{n} | {row.cited_cold}/{n} | {row.new_answer}/{n} "
                f"| {row.own_words}/{n} |"
            )
    lines.append("")
    for name, by_language in rows.items():
        for row in by_language.values():
            for first, follow_up, answer in row.samples:
                lines += [f"- **{name}**: {first} → {follow_up}", "", "  " + answer.replace("\n", "\n  "), ""]
    return lines


def _plain(answer: str) -> str:
    return " ".join(_CITATION.sub("", answer).split())
