"""The model-free quiz drafter: a key sentence of the chunk with a salient term blanked out.

The term is the sentence's rarest (highest IDF in the keyword index) content word, number or name;
the distractors are other salient terms of the same course of the same kind (a number for a number,
an acronym for an acronym, a word with the same ending for a word), so they fit the blank's grammar
and none of them is in the source sentence.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import jieba

from knowledge.extractive import split_sentences
from knowledge.index import tokenize
from knowledge.models import Chunk
from knowledge.quizgen import BLANK, CLOZE_PROMPTS, Checker, DraftItem, DraftRejected, fold

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|\d+(?:[.,]\d+)?")
_CODE_SPAN = re.compile(r"`[^`]*`|\b[a-z][a-z0-9+.-]*://\S+", re.I)  # code and URLs
_CJK_WORD = re.compile(r"^[\u3400-\u9fff]{2,}$")
_DEFINITION = re.compile(r"\b(?:is|are|means|refers to|stands for|called)\b|是|指")
_GLUE = "./@\\:_`"  # a term touching these is part of a URL, a path, an address or code


class Vocabulary(Protocol):
    """Term statistics of the keyword index (``KeywordIndex`` has them)."""

    def document_frequency(self, term: str) -> float:
        """Share of chunks that contain ``term``."""
        ...

    def size(self) -> int:
        """How many chunks are indexed."""
        ...


@dataclass(frozen=True)
class Term:
    """A candidate for the blank: as written, its index key, and what kind of thing it is."""

    surface: str
    key: str
    kind: str
    slot: str
    start: int
    end: int


def _kind(surface: str, initial: bool) -> str:
    if surface[0].isdigit():
        return "number"
    if _CJK_WORD.match(surface):
        return "cjk"
    letters = surface.replace("-", "")
    if len(letters) >= 2 and letters.isupper():
        return "acronym"
    if surface[0].isupper() and not (initial and surface[1:].islower()):
        return "name"
    for ending in ("ing", "ed", "ly", "s"):
        if surface.lower().endswith(ending) and not surface.lower().endswith("ss"):
            return f"word-{ending}"
    return "word"


_NOUN_BEFORE = frozenset(
    "a an the your our their this that these those its his her my any every each no some all many".split()
)
_NEEDS_CONTEXT = re.compile(r"^(?:It|This|These|That|Those|They|Them|He|She|Here|There|Such)\b")
_VERB_BEFORE = frozenset("to will can must should may might cannot never not".split())


def _slot(sentence: str, start: int) -> str:
    """What the words before a term suggest it is: ``noun`` after an article, ``verb`` after "to"."""
    before = re.findall(r"[A-Za-z']+", sentence[:start][-20:])
    word = before[-1].lower() if before else ""
    return "noun" if word in _NOUN_BEFORE else "verb" if word in _VERB_BEFORE else "other"


def terms(sentence: str) -> list[Term]:
    """The terms of a sentence that could be blanked: no stopwords, code, URLs or scraps."""
    if re.search(r"[\u3400-\u9fff]", sentence):
        found, at = [], 0
        for word in jieba.lcut(sentence):
            start = sentence.find(word, at)
            at = start + len(word) if start >= 0 else at
            if start >= 0 and _CJK_WORD.match(word) and tokenize(word):
                found.append(Term(word, word, "cjk", "other", start, start + len(word)))
        return found
    code = [m.span() for m in _CODE_SPAN.finditer(sentence)]
    found = []
    for match in _WORD.finditer(sentence):
        start, end = match.span()
        surface = match.group()
        before = sentence[start - 1] if start else " "
        after = sentence[end] if end < len(sentence) else " "
        # "63B", "config.py", "won't", "company's": part of a longer token (tokenize keeps those whole)
        glued = after.isalnum() or (after in _GLUE + "-'’" and sentence[end + 1 : end + 2].isalnum())
        if before in _GLUE + "-" or glued or any(a <= start < b for a, b in code):
            continue
        if len(surface) < 3 and not surface[0].isdigit():
            continue
        key = " ".join(tokenize(surface))
        if not key or len(key.split()) > 2:
            continue
        initial = not sentence[:start].strip(" \"'“(")
        found.append(Term(surface, key, _kind(surface, initial), _slot(sentence, start), start, end))
    return found


def _good_sentence(sentence: str) -> bool:
    if re.search(r"[\u3400-\u9fff]", sentence):
        return 12 <= len(sentence) <= 160 and not sentence.endswith(("：", ":", "？", "?"))
    return (
        40 <= len(sentence) <= 240
        and len(sentence.split()) >= 6
        and not sentence.endswith((":", "?"))
        and (sentence[0].isupper() or sentence[0].isdigit())
        and not _NEEDS_CONTEXT.match(sentence)  # "It is ..." means nothing without the sentence before
    )


@dataclass
class _PoolTerm:
    """A course term as a distractor candidate: its usual form, where it occurs, the slots it fills."""

    surface: str
    chunks: set[str]
    lessons: set[str]
    slots: Counter[str]


class ClozeDrafter:
    """Fill-in-the-blank items from the course text alone: no model, deterministic.

    Example:
        >>> drafter = ClozeDrafter(course_chunks, keyword_index)
        >>> drafter.draft(chunk).question
        'Fill in the blank: "Company account passwords must be at least _____ characters long."'
    """

    name = "extractive"

    def __init__(self, course_chunks: Sequence[Chunk], vocabulary: Vocabulary, options: int = 4) -> None:
        if options not in (3, 4):
            raise ValueError("options must be 3 or 4")
        self.vocabulary = vocabulary
        self.options = options
        self._pool = self._term_pool(course_chunks)

    @staticmethod
    def _term_pool(chunks: Sequence[Chunk]) -> dict[str, dict[str, _PoolTerm]]:
        """Kind -> key -> where the term occurs and how: the supply of distractors."""
        forms: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        pool: dict[str, dict[str, _PoolTerm]] = defaultdict(dict)
        for chunk in chunks:
            for sentence in split_sentences(chunk.text):
                for term in terms(sentence):
                    lower = term.kind.startswith("word")
                    forms[(term.kind, term.key)][term.surface.lower() if lower else term.surface] += 1
                    entry = pool[term.kind].setdefault(term.key, _PoolTerm("", set(), set(), Counter()))
                    entry.chunks.add(chunk.chunk_id)
                    entry.lessons.add(chunk.lesson_id)
                    entry.slots[term.slot] += 1
        for (kind, key), counts in forms.items():
            pool[kind][key].surface = counts.most_common(1)[0][0]
        return pool

    def idf(self, key: str) -> float:
        """How rare a term is across the index (a multi-word key counts its rarest word)."""
        size = max(self.vocabulary.size(), 1)
        return max(
            math.log(1.0 / max(self.vocabulary.document_frequency(word), 0.5 / size)) for word in key.split()
        )

    def salience(self, term: Term, sentence: str, counts: Counter[str]) -> float:
        """TF-IDF of the term in its chunk; course concepts (recurring terms, definitions' subjects) first."""
        score = self.idf(term.key) * (1 + math.log(counts[term.key] or 1))
        entry = self._pool.get(term.kind, {}).get(term.key)
        if entry is None or len(entry.chunks) < 2:
            score *= 0.6  # a word used once in the whole course is rarely what the lesson teaches
        if term.kind == "word-ly":
            score *= 0.5  # adverbs make poor blanks
        if term.kind in ("acronym", "name", "number", "cjk") or self._slot_of(term) == "noun":
            score *= 1.3  # things are better blanks than verbs and adjectives
        definition = _DEFINITION.search(sentence)
        if definition and term.end <= definition.start() and len(sentence[: term.start].split()) <= 4:
            score += 1.5  # "Phishing is an attempt to ...": ask for the thing being defined
        return score

    def _slot_of(self, term: Term) -> str:
        """The slot a term fills here, else the one it fills most often in the course."""
        if term.slot != "other":
            return term.slot
        entry = self._pool.get(term.kind, {}).get(term.key)
        slots = [(n, slot) for slot, n in entry.slots.items() if slot != "other"] if entry else []
        return max(slots)[1] if slots else "other"

    def draft(self, chunk: Chunk) -> DraftItem:
        """Blank the most salient term of the chunk's sentences that has enough distractors.

        Raises:
            DraftRejected: ``no_candidate`` when no sentence and term work.
        """
        counts = Counter(" ".join(tokenize(m.group())) for m in _WORD.finditer(chunk.text))
        candidates = []
        for n, sentence in enumerate(s for s in split_sentences(chunk.text) if _good_sentence(s)):
            for term in terms(sentence):
                score = self.salience(term, sentence, counts) + 0.3 / (1 + n)
                candidates.append((score, n, sentence, term))
        chunk_terms = set(tokenize(chunk.text))
        for _, _, sentence, term in sorted(candidates, key=lambda c: (-c[0], c[1], c[3].start)):
            item = self._item(chunk, sentence, term, chunk_terms)
            if item is not None:
                return item
        raise DraftRejected("no_candidate", "no sentence with a blankable term and enough distractors")

    def _item(self, chunk: Chunk, sentence: str, term: Term, chunk_terms: set[str]) -> DraftItem | None:
        pattern = re.compile(rf"(?<![\w-]){re.escape(term.surface)}(?![\w-])", re.I)
        blanked = pattern.sub(BLANK, sentence)
        blanked = re.sub(rf"\b([Aa])n? {BLANK}", rf"\1(n) {BLANK}", blanked)  # "an _____" gives vowels away
        try:  # another form of the term may stay in the sentence and give it away
            Checker.check_trivial(f"{CLOZE_PROMPTS['en']} {blanked}", term.surface, chunk)
        except DraftRejected:
            return None
        distractors = self._distractors(term, set(tokenize(sentence)), chunk_terms, chunk)
        if len(distractors) < 2:
            return None
        initial = not sentence[: term.start].strip(" \"'“(")
        shown = [
            d[:1].upper() + d[1:] if initial and term.kind.startswith("word") else d for d in distractors
        ]
        options = [term.surface, *shown[: self.options - 1]]
        random.Random(chunk.chunk_id).shuffle(options)
        if re.search(r"[\u3400-\u9fff]", sentence):
            question, explanation = f"{CLOZE_PROMPTS['zh']}{blanked}", f"课程原文：「{sentence}」"
        else:
            question = f'{CLOZE_PROMPTS["en"]} "{blanked}"'
            explanation = f'The lesson says: "{sentence}"'
        return DraftItem(question, tuple(options), options.index(term.surface), explanation, chunk, self.name)

    def _distractors(
        self, term: Term, sentence_terms: set[str], chunk_terms: set[str], chunk: Chunk
    ) -> list[str]:
        """Same-kind course terms outside the source sentence; the same slot, lesson and rarity first.

        Terms of the source chunk come last: they might be true of it too.
        """
        target, slot = self.idf(term.key), self._slot_of(term)
        ranked = []
        for key, entry in self._pool.get(term.kind, {}).items():
            words = set(key.split())
            if key == term.key or words & sentence_terms or entry.chunks == {chunk.chunk_id}:
                continue
            if term.kind == "number":
                distance = abs(math.log1p(_number(entry.surface)) - math.log1p(_number(term.surface)))
            else:
                distance = abs(self.idf(key) - target)
            ranked.append(
                (
                    bool(words & chunk_terms),
                    slot != "other" and entry.slots[slot] == 0,
                    chunk.lesson_id not in entry.lessons,
                    round(distance, 1),
                    hashlib.sha256(f"{chunk.chunk_id}:{key}".encode()).hexdigest(),
                    entry.surface,
                )
            )
        chosen: list[str] = []
        for *_, surface in sorted(ranked):
            if fold(surface) not in {fold(c) for c in [term.surface, *chosen]}:
                chosen.append(surface)
            if len(chosen) == self.options - 1:
                break
        return chosen


def _number(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0
