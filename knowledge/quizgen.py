"""Drafting multiple-choice quiz items from lesson chunks, and the checks every draft must pass.

Two drafters write one item per chunk: :class:`~knowledge.quiz_llm.LLMDrafter` asks a chat model
for strict JSON, and :class:`~knowledge.cloze.ClozeDrafter` needs no
model (a key sentence with a salient term blanked). :func:`draft_items` runs a drafter over chunks,
falls back to a second drafter when the first one's draft is malformed or fails a check, and
reports every rejection with its reason. Nothing here stores anything: drafts wait for an admin in
the bot's store.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.messages import BaseMessage

from knowledge.extractive import split_sentences
from knowledge.models import Chunk
from knowledge.quizrubric import (
    also_right,
    answer_leak,
    figure_reference,
    filler_blank,
    kind_mismatch,
    leans_on_context,
    length_giveaway,
    split_blank,
)
from knowledge.text import CJK, tokenize

REASONS = {
    "malformed": "the model's reply is not a usable JSON item",
    "options": "not 3-4 distinct options",
    "unsupported": "the correct answer is not supported by the source chunk",
    "trivial": "the question gives its answer away or is no question",
    "duplicate": "the same question as an existing item of the course",
    "no_candidate": "the chunk has no sentence and term to ask about",
    "figure": "the item refers to an image or figure the learner cannot see",
    "filler": "the blank is a common word or not a noun, not a key term of the lesson",
    "giveaway": "the correct option stands out by its length or its kind",
    "context": "the item leans on a sentence or a screen the learner has not seen",
    "split": "the blank cuts a word or compound, or stands twice for one answer",
    "ambiguous": "a wrong option is right too: listed with the answer, or backed by the explanation",
}
"""Why a draft is rejected: reason -> what it means (reports and ``learnbot quiz generate`` use these)."""

BLANK = "_____"
CLOZE_PROMPTS = {"en": "Fill in the blank:", "zh": "填空："}
"""How a fill-in-the-blank question starts (not part of what the question gives away)."""


class DraftRejected(Exception):
    """A draft that cannot be used; ``reason`` is one of :data:`REASONS`, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DraftItem:
    """A multiple-choice item drafted from one chunk; ``answer`` indexes the correct option."""

    question: str
    options: tuple[str, ...]
    answer: int
    explanation: str
    chunk: Chunk
    drafter: str

    @property
    def correct(self) -> str:
        """The text of the correct option."""
        return self.options[self.answer]


class Drafter(Protocol):
    """Writes one quiz item from a chunk, or raises :class:`DraftRejected`."""

    name: str

    def draft(self, chunk: Chunk) -> DraftItem:
        """Draft an item whose correct answer comes from ``chunk``."""
        ...


class ChatModel(Protocol):
    """What the LLM drafter needs of a back end: a raw reply to a chat (LocalGenerator, OpenAIGenerator).

    ``prefills`` says whether ``chat`` continues a given start of the reply (an in-process model);
    the drafter then guides a small model through the JSON one field at a time.
    """

    prefills: bool

    def chat(
        self,
        messages: Sequence[BaseMessage],
        max_new_tokens: int | None = None,
        prefix: str = "",
        stop: Sequence[str] = (),
    ) -> str:
        """The model's reply to ``messages``, starting with ``prefix``, cut before any ``stop`` string."""
        ...


# -- checks ------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Text compared case- and whitespace-insensitively (trailing punctuation and quotes ignored)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).strip(" .。!！?？'\"“”‘’")


def support(answer: str, chunk: Chunk) -> float:
    """Share of the answer's key terms (``tokenize``: stemmed, no stopwords) that occur in the chunk."""
    terms = set(tokenize(answer))
    if not terms:
        return 0.0
    vocabulary = set(tokenize(f"{chunk.location}\n{chunk.text}"))
    return len(terms & vocabulary) / len(terms)


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of two texts' key terms."""
    x, y = set(tokenize(a)), set(tokenize(b))
    return len(x & y) / len(x | y) if x and y else 0.0


class Checker:
    """The checks a draft must pass before it is stored, run in order; the first failure is the reason.

    ``existing`` holds the course's questions; each accepted draft is added, so one run never
    drafts the same question twice.

    Example:
        >>> checker = Checker(["Which of these is a common sign of phishing?"])
        >>> checker.check(item)  # raises DraftRejected("duplicate", ...) for a copy
    """

    def __init__(self, existing: Iterable[str] = (), min_support: float = 0.75, max_overlap: float = 0.8):
        self.min_support = min_support
        self.max_overlap = max_overlap
        self.questions: list[str] = [q for q in existing if q.strip()]

    def check(self, item: DraftItem, ignore: str = "") -> None:
        """Raise :class:`DraftRejected` unless the item passes every check.

        ``ignore`` is a question not to count as a duplicate (the item's own text, when editing).

        Raises:
            DraftRejected: ``options``, ``figure``, ``filler``, ``context``, ``split``, ``unsupported``,
                ``trivial``, ``giveaway``, ``ambiguous`` or ``duplicate``.
        """
        self.check_options(item.options, item.answer)
        figure = figure_reference(item.question, *item.options)
        if figure:
            raise DraftRejected("figure", f"{figure!r} in {item.question!r}")
        filler = filler_blank(item.correct) if BLANK in item.question else ""
        if filler:
            raise DraftRejected("filler", filler)
        context = leans_on_context(item.question)
        if context:
            raise DraftRejected("context", f"starts with {context!r}")
        split = split_blank(item.question)
        if split:
            raise DraftRejected("split", split)
        share = support(item.correct, item.chunk)
        if share < self.min_support:
            raise DraftRejected(
                "unsupported", f"{share:.0%} of the answer's key terms are in the chunk: {item.correct!r}"
            )
        self.check_trivial(item.question, item.correct, item.chunk)
        self.check_giveaway(item.options, item.answer)
        right_too = also_right(item.question, item.options, item.answer, item.chunk.text, item.explanation)
        if right_too:
            raise DraftRejected("ambiguous", right_too)
        self.check_duplicate(item.question, ignore)

    @staticmethod
    def check_options(options: Sequence[str], answer: int) -> None:
        """3 or 4 non-empty options, distinct once case and spaces are folded; ``answer`` indexes one."""
        if not 3 <= len(options) <= 4:
            raise DraftRejected("options", f"{len(options)} options")
        folded = [fold(o) for o in options]
        if not all(folded):
            raise DraftRejected("options", "an empty option")
        if len(set(folded)) != len(folded):
            raise DraftRejected("options", "two options are the same")
        if not 0 <= answer < len(options):
            raise DraftRejected("options", f"answer {answer} is not an option")

    @staticmethod
    def check_trivial(question: str, correct: str, chunk: Chunk) -> None:
        """A question must ask something (``?`` or a blank) and must not give its own answer away.

        Given away: the answer itself, a word of its stem ("Translator" for "translation") or its
        expansion ("Comma Separated Values" for "CSV"); a chunk sentence copied with the answer left in
        is caught too.
        """
        if len(question) < 12 or not re.search(r"[?？]|_{3,}", question):
            raise DraftRejected("trivial", "not a question")
        for prompt in CLOZE_PROMPTS.values():
            question = question.removeprefix(prompt)
        answer_terms = set(tokenize(correct))
        verbatim = re.search(rf"(?<!\w){re.escape(fold(correct))}(?!\w)", fold(question))
        if verbatim or (answer_terms and answer_terms <= set(tokenize(question))):
            raise DraftRejected("trivial", "the question contains the answer")
        if len(answer_terms) <= 3:  # a longer answer may share a word with its question fairly
            leak = answer_leak(question, correct)
            if leak:
                raise DraftRejected("trivial", f"the question gives the answer away: {leak!r}")

    @staticmethod
    def check_giveaway(options: Sequence[str], answer: int) -> None:
        """The correct option does not stand out by its length or its kind.

        Raises:
            DraftRejected: ``giveaway``.
        """
        stands_out = length_giveaway(options, answer) or kind_mismatch(options, answer)
        if stands_out:
            raise DraftRejected("giveaway", stands_out)

    def check_duplicate(self, question: str, ignore: str = "") -> None:
        """Not the same question (folded) as, nor mostly the same key terms as, an existing one."""
        for existing in self.questions:
            if ignore and fold(existing) == fold(ignore):
                continue
            if fold(existing) == fold(question) or overlap(existing, question) >= self.max_overlap:
                raise DraftRejected("duplicate", f"like {existing!r}")

    def add(self, question: str) -> None:
        """Count an accepted question as existing."""
        self.questions.append(question)


# -- running drafters over chunks --------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """One draft that was not kept: from which chunk and drafter, and why."""

    chunk_id: str
    drafter: str
    reason: str
    detail: str = ""


@dataclass
class DraftRun:
    """What drafting over some chunks produced: the items that passed, and every rejection."""

    chunks: int = 0
    accepted: list[DraftItem] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def rejected(self, drafter: str | None = None) -> Counter[str]:
        """Rejections by reason (of one drafter, when named)."""
        return Counter(r.reason for r in self.rejections if drafter is None or r.drafter == drafter)

    def by_drafter(self) -> Counter[str]:
        """Accepted items by the drafter that wrote them."""
        return Counter(item.drafter for item in self.accepted)


def draft_items(
    chunks: Iterable[Chunk],
    drafter: Drafter,
    checker: Checker,
    fallback: Drafter | None = None,
    on_chunk: Any = None,
) -> DraftRun:
    """One checked item per chunk: ``drafter``'s, else ``fallback``'s when the first is rejected.

    ``on_chunk(done)`` is called after each chunk (progress bars).
    """
    run = DraftRun()
    for chunk in chunks:
        run.chunks += 1
        for each in (drafter, fallback):
            if each is None:
                continue
            try:
                item = each.draft(chunk)
                checker.check(item)
            except DraftRejected as rejected:
                run.rejections.append(Rejection(chunk.chunk_id, each.name, rejected.reason, rejected.detail))
                continue
            checker.add(item.question)
            run.accepted.append(item)
            break
        if on_chunk is not None:
            on_chunk(run.chunks)
    return run


def pick_chunks(
    chunks: Sequence[Chunk], limit: int, skip: Iterable[str] = (), min_chars: int = 100
) -> list[Chunk]:
    """Up to ``limit`` chunks worth asking about, taken in turn from each lesson (so all are covered).

    ``chunks`` come in course order. Within a lesson the chunks with the most prose come first (a
    lesson's opening chunk is often a video link or a list of contents). Pages of no lesson, chunks
    in ``skip`` (they have an item already) and chunks with too little prose are left out.
    """
    skipped = set(skip)
    by_lesson: dict[str, list[tuple[int, int, Chunk]]] = {}
    for n, chunk in enumerate(chunks):
        prose = _prose_chars(chunk)
        if chunk.lesson_id and chunk.chunk_id not in skipped and prose >= min_chars:
            by_lesson.setdefault(chunk.lesson_id, []).append((-prose, n, chunk))
    picked: list[Chunk] = []
    queues = [[chunk for *_, chunk in sorted(queue)] for queue in by_lesson.values()]
    depth = 0
    while len(picked) < limit and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return picked[:limit]


def _prose_chars(chunk: Chunk) -> int:
    """Characters in whole sentences (not code, tables, list fragments or links)."""
    return sum(
        len(s) for s in split_sentences(chunk.text) if CJK.search(s) or (len(s) >= 40 and s[0].isupper())
    )
