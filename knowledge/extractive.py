"""The extractive back end: no model, the passage sentences that best match the question, cited."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.generation.base import NO_PASSAGES, Turn, answer_language, shorten
from knowledge.models import ScoredChunk
from knowledge.text import CJK, tokenize


@dataclass(frozen=True)
class _Sentence:
    text: str
    passage: int  # 1-based, as cited
    position: int
    terms: frozenset[str]


_FENCE = re.compile(r"^\s*(?:```|~~~)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+>]|\d+[.)])\s+")
_SPLIT = re.compile(
    r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)])\s+|(?<=[。！？])(?![\"”’」』)）])\s*|(?<=[。！？][”’」』)）])\s*"
)


def _is_table(line: str) -> bool:
    stripped = line.strip()
    return (
        stripped.startswith("|")
        or line.count("|") >= 2
        or bool(re.fullmatch(r"[|:\- ]*-{3,}[|:\- ]*", stripped))
    )


def _too_short(sentence: str) -> bool:
    if CJK.search(sentence):
        return len(sentence) < 6
    return len(sentence) < 12 or len(sentence.split()) < 3


def split_sentences(text: str) -> list[str]:
    """The prose sentences of a passage: code fences, tables, headings and scraps left out."""
    paragraphs: list[list[str]] = [[]]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            paragraphs.append([])
        elif in_fence or not line.strip() or line.lstrip().startswith("#") or _is_table(line):
            paragraphs.append([])
        else:
            if _LIST_MARK.match(line):
                paragraphs.append([])
            paragraphs[-1].append(_LIST_MARK.sub("", line).strip().replace("**", ""))
    sentences = []
    for lines in paragraphs:
        for piece in _SPLIT.split(" ".join(lines)):
            piece = piece.strip()
            if piece and not _too_short(piece):
                sentences.append(piece)
    return sentences


class ExtractiveGenerator:
    """Answers with the 2-3 passage sentences sharing the most (IDF-weighted) terms with the question.

    It needs no model and cannot translate: answers are in the passages' own words.

    Example:
        >>> ExtractiveGenerator().generate("Which port does MQTT use?", passages, [], "en")
        'The default MQTT port is 1883. [2]'
    """

    name = "extractive"

    def __init__(self, max_sentences: int = 3, max_chars: int = 600) -> None:
        if max_sentences < 1 or max_chars < 50:
            raise ValueError("max_sentences must be >= 1 and max_chars >= 50")
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Quote the best-matching sentences in passage order, each group cited as ``[n]``."""
        if not passages:
            return NO_PASSAGES[answer_language(language)]
        candidates = [
            _Sentence(text, n, i, frozenset(tokenize(text)))
            for n, scored in enumerate(passages, start=1)
            for i, text in enumerate(split_sentences(scored.chunk.text))
        ]
        chosen = self._select(set(tokenize(question)), candidates)
        if not chosen:
            first = next((s for s in candidates if s.passage == 1), None)
            text = first.text if first else passages[0].chunk.text
            return f"{shorten(text, self.max_chars)} [1]"
        gap = "" if CJK.search(chosen[0].text) else " "  # Chinese runs sentences and citations together
        return gap.join(
            f"{gap.join(s.text for s in group)}{gap}[{n}]"
            for n, group in itertools.groupby(chosen, key=lambda s: s.passage)
        )

    def _select(self, question: set[str], candidates: list[_Sentence]) -> list[_Sentence]:
        frequency = Counter(term for s in candidates for term in s.terms)
        scores = {}
        for s in candidates:
            overlap = sum(math.log(1 + len(candidates) / frequency[t]) for t in question & s.terms)
            scores[s] = overlap / (1 + 0.1 * (s.passage - 1))  # retrieval order breaks near-ties
        ranked = sorted(
            (s for s in candidates if scores[s] > 0), key=lambda s: (-scores[s], s.passage, s.position)
        )
        if not ranked:
            return []
        best = ranked[0]
        if len(best.text) > self.max_chars:
            return [_Sentence(shorten(best.text, self.max_chars), best.passage, best.position, best.terms)]
        chosen, used = [best], len(best.text)
        for s in ranked[1:]:
            if len(chosen) >= self.max_sentences or scores[s] < 0.5 * scores[best]:
                break
            if s.text not in {c.text for c in chosen} and used + len(s.text) + 5 <= self.max_chars:
                chosen.append(s)
                used += len(s.text) + 5
        return sorted(chosen, key=lambda s: (s.passage, s.position))
