"""The cited-answer chain: retrieve, check the evidence, generate, keep only real citations."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from knowledge.extractive import ExtractiveGenerator
from knowledge.fusion import rank_lessons
from knowledge.generation import Generator, Turn, attribute, clean_answer
from knowledge.generation.deadline import AnswerLine, LineFull, TextSink, generate_within
from knowledge.grounding import Evidence, assess
from knowledge.models import ScoredChunk, SearchFilter
from knowledge.retrieval import Retriever
from knowledge.support import CITATION, keep_supported, support_share
from knowledge.text import detect_language, strip_noise, tokenize

log = logging.getLogger(__name__)


class _Terms(Protocol):
    def document_frequency(self, term: str) -> float: ...

    def co_frequency(self, terms: Sequence[str]) -> float: ...

    def size(self) -> int: ...


Vocabulary = Callable[[], _Terms]
"""Returns the current keyword index (its term statistics weigh the question's words)."""


@dataclass(frozen=True)
class Citation:
    """A numbered source under an answer: which lesson and section it came from."""

    n: int
    course_id: str
    lesson_id: str
    lesson_title: str
    heading: str
    source_path: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output and the questions log."""
        return asdict(self)


@dataclass(frozen=True)
class ClosestLesson:
    """A lesson offered when the course does not cover a question."""

    course_id: str
    lesson_id: str
    lesson_title: str


@dataclass
class Answer:
    """The outcome of a question: the text, whether it is grounded, and its sources."""

    answer: str
    grounded: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    closest_lessons: list[ClosestLesson] = field(default_factory=list)
    evidence: float = 0.0
    latency_ms: float = 0.0
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``learnbot ask --json``."""
        return {
            "answer": self.answer,
            "grounded": self.grounded,
            "language": self.language,
            "citations": [c.to_dict() for c in self.citations],
            "closest_lessons": [asdict(c) for c in self.closest_lessons],
            "evidence": round(self.evidence, 4),
            "backend": self.backend,
            "latency_ms": round(self.latency_ms, 1),
        }


REFUSAL = {
    "en": "The course material does not cover this, so I won't guess.",
    "zh": "课程材料中没有涉及这个问题，我不想凭空猜测。",
}
CLOSEST = {"en": "The closest lessons are:", "zh": "最相关的课程是："}
SOURCE_LANGUAGE = {
    "en": {"zh": "(The source is in Chinese.)"},
    "zh": {"en": "（来源为英文课程材料。）"},
}
"""Said under an answer whose passages are in another language than the question (the lesson exists
only in that language)."""
LOCKED = {
    "en": "The premium track “{track}” may cover this; see /premium.",
    "zh": "高级课程“{track}”可能涉及这个问题，详见 /premium。",
}
QUOTED = {"en": "(Quoted from the course material.)", "zh": "（直接摘自课程材料。）"}
WaitSink = Callable[[int], None]
"""Told how many questions are ahead of this one when it has to wait for the model."""
"""Said under an answer that quotes the passages instead of the configured LLM's words (the model
was busy or down, or its answer was not supported by the passages), so the learner knows why it reads
differently."""


DRIFT_REFUSAL = 0.35
"""A model's unsupported answer that uses less than this share of its passages' words refuses the
question instead of quoting them (``AnswerChain.drifted``; 0 turns it off). Chosen on the IoT
development sets and measured by ``python -m eval drift`` (README, Grounding)."""
DRIFT_MIN_WORDS = 10
"""Shorter replies ("2") say too little to judge."""
DRIFT_MAX_COVERAGE = 0.5
"""A passage that holds half of the question's key terms bears on it: its quote stands even when the
model answered from memory (a covered "what's the difference between a microcontroller and a
single-board computer?", which the model explained in its own terms)."""


class AnswerChain:
    """Answers a question from the course material, or says plainly that the material does not cover it.

    Example:
        >>> chain = AnswerChain(retriever, generator, lambda: keyword_index, threshold=0.5)
        >>> chain.answer("What does a sensor do?").citations[0].lesson_title
        'Sensors and actuators'
    """

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        vocabulary: Vocabulary,
        threshold: float,
        top_k: int = 4,
        evidence_depth: int = 20,
        min_support: float = 0.6,
        deadline_s: float = 30.0,
        line: AnswerLine | None = None,
        drift_refusal: float = DRIFT_REFUSAL,
    ) -> None:
        self.retriever = retriever
        self.drift_refusal = drift_refusal
        self.vocabulary = vocabulary
        self.min_support = min_support
        self.fallback = ExtractiveGenerator()
        self.generator = generator
        self.threshold = threshold
        self.top_k = top_k
        self.evidence_depth = evidence_depth
        self.deadline_s = deadline_s
        self.line = line or AnswerLine()

    def evidence(
        self, question: str, search_filter: SearchFilter | None = None, history: Sequence[Turn] = ()
    ) -> tuple[list[ScoredChunk], Evidence]:
        """Retrieve passages and measure the evidence (no generation)."""
        cleaned = strip_noise(question)
        own = cleaned or question
        query = retrieval_query(own, history)
        hits, judged = self._retrieve(query, search_filter)
        if tokenize(question) and not tokenize(cleaned):  # all noise: a ticket number, a greeting
            return hits, Evidence(0.0, 0.0, 0.0, 0.0, False, 0.0)
        vocabulary = self.vocabulary()
        evidence = assess(
            query,
            judged,
            vocabulary.document_frequency,
            vocabulary.size(),
            top=self.top_k,
            co_frequency=vocabulary.co_frequency,
        )
        if query != own and not _FOLLOW_UP.search(own):
            # A short message may still be a new question ("How long should a passphrase be?" after one
            # about phishing): it borrows the previous question only when that makes the evidence stronger.
            alone, alone_judged = self._retrieve(own, search_filter)
            mine = assess(
                own,
                alone_judged,
                vocabulary.document_frequency,
                vocabulary.size(),
                top=self.top_k,
                co_frequency=vocabulary.co_frequency,
            )
            if mine.score() > evidence.score():
                return alone, mine
        return hits, evidence

    def _retrieve(
        self, query: str, search_filter: SearchFilter | None
    ) -> tuple[list[ScoredChunk], list[ScoredChunk]]:
        """Passages to answer from, and those the evidence is judged on (the same for most retrievers)."""
        judged = getattr(self.retriever, "retrieve_judged", None)
        if judged is not None:
            return judged(query, self.evidence_depth, search_filter)
        hits = self.retriever.retrieve(query, self.evidence_depth, search_filter)
        return hits, hits

    def answer(
        self,
        question: str,
        search_filter: SearchFilter | None = None,
        history: Sequence[Turn] = (),
        on_text: TextSink | None = None,
        on_wait: WaitSink | None = None,
    ) -> Answer:
        """Answer ``question`` from the passages ``search_filter`` admits, within ``deadline_s``.

        ``history`` holds earlier turns of this conversation, so a follow-up is understood.
        ``on_text`` receives the model's raw text so far as it is written (a streaming adapter shows
        it; the returned answer is the checked, cited one). ``on_wait`` is told how many questions are
        ahead when this one waits for the model. Past the deadline, or with too many questions waiting,
        the answer quotes the passages and the model is stopped.
        """
        started = time.perf_counter()
        language = detect_language(question)
        hits, evidence = self.evidence(question, search_filter, history)
        score = evidence.score()
        passages = hits[: self.top_k]
        checked, drifted = None, False
        if hits and score >= self.threshold:
            text = self._generate(question, passages, history, language, started, on_text, on_wait)
            checked = (
                keep_supported(text, passages, language, self.min_support, question=question)
                if text
                else None
            )
            drifted = checked is None and self.drifted(text, passages, history, evidence)
        if not hits or score < self.threshold or drifted:
            result = self._refusal(hits, language, score)
            if drifted:  # `ask --json` tells this refusal from one for weak evidence
                result.backend = f"{self.generator.name} (refused: its answer is not in the passages)"
            locked = self._locked_track(question, search_filter, history)
            if locked:
                result.answer += "\n" + LOCKED[language].format(track=locked)
        else:
            backend = self.generator.name
            fell_back = checked is None  # failed, mostly unsupported or in the wrong language
            if fell_back:
                checked = self.fallback.generate(question, passages, history, language)
                backend = f"{self.fallback.name} (fallback from {self.generator.name})"
            text, citations = resolve_citations(checked, passages)
            if fell_back and self.generator.name != self.fallback.name:  # quoting is news to the learner
                text = f"{text}\n\n{QUOTED.get(language, QUOTED['en'])}"
            cited = {(c.course_id, c.lesson_id) for c in citations}
            sources = {p.chunk.language for p in passages if (p.chunk.course_id, p.chunk.lesson_id) in cited}
            # A Chinese question answered from an English lesson (no note for other course languages).
            note = (
                SOURCE_LANGUAGE[language].get(min(sources)) if sources and language not in sources else None
            )
            if note:
                text = f"{text}\n{note}"
            result = Answer(text, True, language, citations, evidence=score, backend=backend)
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    def _generate(
        self,
        question: str,
        passages: Sequence[ScoredChunk],
        history: Sequence[Turn],
        language: str,
        started: float,
        on_text: TextSink | None,
        on_wait: WaitSink | None,
    ) -> str:
        """The generator's cleaned answer, or "" when it failed, was cut by the deadline or had no turn."""
        if self.generator.name == self.fallback.name:  # quoting needs no model, line or deadline
            return self.generator.generate(question, passages, history, language)
        try:
            left = self.deadline_s - (time.perf_counter() - started)
            with self.line.place(on_wait, timeout=left):
                left = self.deadline_s - (time.perf_counter() - started)
                generated = generate_within(
                    self.generator, question, passages, history, language, left, on_text
                )
        except LineFull as exc:
            log.warning("no turn for the model (%s); quoting the passages", exc)
            return ""
        except Exception as exc:  # busy batcher, LLM server down: the passages still answer
            log.warning("generator %s failed (%s); quoting the passages", self.generator.name, exc)
            return ""
        if generated.timed_out:
            log.warning(
                "generator %s passed the %.0f s deadline; stopped it and quoted the passages",
                self.generator.name,
                self.deadline_s,
            )
            return ""
        return attribute(clean_answer(generated.text), passages)

    def drifted(
        self, text: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], evidence: Evidence
    ) -> bool:
        """Whether the model answered from its own memory: the passages do not hold the answer after all.

        Shown passages that pass the evidence check but do not cover the question, a model writes
        what it knows instead (tax return steps beside passages about sensors). Quoting those passages
        would answer a question they do not answer, so such a question is refused like one with weak
        evidence. Two signals must agree: the answer uses few of the passages' words, and no passage
        holds half of the question's key terms. A short reply, or one that partly uses the passages,
        still gets the quote.
        """
        if not text or self.drift_refusal <= 0 or evidence.coverage >= DRIFT_MAX_COVERAGE:
            return False
        context = [f"{turn.question} {turn.answer}" for turn in history]
        measured = support_share(text, passages, context)
        if measured is None or measured[1] < DRIFT_MIN_WORDS or measured[0] >= self.drift_refusal:
            return False
        log.info("the model's answer uses %.0f%% of its passages' words: refused", measured[0] * 100)
        return True

    def _locked_track(
        self, question: str, search_filter: SearchFilter | None, history: Sequence[Turn]
    ) -> str:
        """The premium track that covers a refused question, when the learner may not see it (else "")."""
        if search_filter is None or search_filter.allow_premium:
            return ""
        everything = replace(search_filter, allow_premium=True, premium_tracks=())
        hits, evidence = self.evidence(question, everything, history)
        if not hits or evidence.score() < self.threshold or search_filter.admits(hits[0].chunk):
            return ""
        return hits[0].chunk.track if hits[0].chunk.premium else ""

    def _refusal(self, hits: Sequence[ScoredChunk], language: str, score: float) -> Answer:
        titles = {(h.chunk.course_id, h.chunk.lesson_id): h.chunk.lesson_title for h in hits}
        closest = [ClosestLesson(c, lesson, titles[(c, lesson)]) for c, lesson in rank_lessons(hits)[:3]]
        text = REFUSAL[language]
        if closest:
            text += " " + CLOSEST[language] + "\n" + "\n".join(f"- {c.lesson_title}" for c in closest)
        return Answer(text, False, language, [], closest, evidence=score)


_FOLLOW_UP = re.compile(
    r"^\s*(?:and|but|so|also|then|what about|how about)\b"
    r"|^\W*(?:\w+\W+){0,3}(?:that|this|it|they|those|these)\b"
    r"|^\s*(?:那|那么|还有|而且|这|这个|它|它们|为什么这)",
    re.IGNORECASE,
)
"""A message that continues the conversation: it opens with a connective ("And why…", "那么…") or points
back within its first words ("Why is that better…", "Is it safe…")."""


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """The text to search with: a follow-up borrows the previous question.

    A follow-up is a message with few key terms of its own, or one that opens with a connective or points
    back at what was just discussed ("And why is that better than a short complex password?" is about
    the passphrase asked before, though it has key terms of its own).
    """
    if history and (len(set(tokenize(question))) < 3 or _FOLLOW_UP.search(question)):
        return f"{history[-1].question} {question}"
    return question


def resolve_citations(text: str, passages: Sequence[ScoredChunk]) -> tuple[str, list[Citation]]:
    """Keep the ``[n]`` markers that point to a passage, renumber them 1..m, and build the citations.

    Markers that point to no passage are dropped. An answer that cites nothing is credited to the
    best passage, since the generator only saw these passages.
    """
    order: list[int] = []

    def renumber(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(passages):
            return ""
        if n not in order:
            order.append(n)
        return f"[{order.index(n) + 1}]"

    text = CITATION.sub(renumber, text)
    text = re.sub(r"(\[\d+\])(?:\s*\1)+", r"\1", text)  # "[1][1]" -> "[1]"
    text = re.sub(r"[ \t]+([.,;:!?。，])", r"\1", text).strip()
    if not order and passages:
        order = [1]
        text = f"{text} [1]"
    citations = []
    for new_n, old_n in enumerate(order, start=1):
        chunk = passages[old_n - 1].chunk
        citations.append(
            Citation(
                new_n,
                chunk.course_id,
                chunk.lesson_id,
                chunk.lesson_title,
                chunk.heading,
                chunk.source_path,
                round(passages[old_n - 1].score, 4),
            )
        )
    return text, citations
