"""The LLM quiz drafter: a chat model asked for one multiple-choice item as JSON, and its reply parsed.

The checks every draft must pass, and the runner that falls back to the model-free drafter, are in
:mod:`knowledge.quizgen`.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from knowledge.generation import shorten
from knowledge.models import Chunk
from knowledge.quizgen import ChatModel, DraftItem, DraftRejected, fold

# -- parsing the model's reply -----------------------------------------------------------------------


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (prose or a code fence around it is ignored), else ``None``."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_item(text: str) -> tuple[str, list[str], int, str]:
    """``(question, options, answer index, explanation)`` from a model's JSON reply.

    ``answer`` may be an index, a digit string, a letter (``"B"``) or the correct option's text.

    Raises:
        DraftRejected: ``malformed``, with what was wrong.
    """
    data = first_json_object(text)
    if data is None:
        raise DraftRejected("malformed", "no JSON object in the reply")
    question = data.get("question")
    options = data.get("options")
    if not isinstance(question, str) or not question.strip():
        raise DraftRejected("malformed", "no question")
    if not isinstance(options, list) or not all(isinstance(o, str | int | float) for o in options):
        raise DraftRejected("malformed", "options is not a list of texts")
    options = [" ".join(str(o).split()) for o in options]
    raw = next((data[k] for k in ("answer", "answer_index", "correct", "correct_index") if k in data), None)
    answer = _answer_index(raw, options)
    if answer is None:
        raise DraftRejected("malformed", f"answer {raw!r} names no option")
    explanation = data.get("explanation", "")
    return " ".join(question.split()), options, answer, explanation if isinstance(explanation, str) else ""


def _answer_index(raw: object, options: list[str]) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        index = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        index = int(raw.strip())
    elif isinstance(raw, str) and len(raw.strip()) == 1 and raw.strip().isalpha():
        index = ord(raw.strip().upper()) - ord("A")
    elif isinstance(raw, str):
        folded = [fold(o) for o in options]
        return folded.index(fold(raw)) if fold(raw) in folded else None
    else:
        return None
    return index if 0 <= index < len(options) else None


# -- the LLM drafter ---------------------------------------------------------------------------------

_SYSTEM = (
    "You write one multiple-choice quiz question about a passage from a course. Ask about a key idea: "
    "why something is done, which tool or part you would use for a task, or which term a definition "
    "names. The correct answer must be stated in the passage; the question must not contain it or a "
    "word of it, and must not mention images or figures. Write 3 or 4 short options of the same kind "
    "and about the same length: the correct one first, then wrong but plausible ones. "
    "{language_rule}Reply with one JSON object only, with the keys question, options, answer (the "
    "index of the correct option, from 0) and explanation."
)
_LANGUAGE_RULE = {"en": "", "zh": "Write the question, options and explanation in Simplified Chinese. "}
_EXAMPLE_PASSAGE = (
    "Passage from Soil moisture sensors:\nA capacitive soil moisture sensor measures the water in the "
    "soil by its effect on capacitance. Unlike resistive sensors it has no exposed metal, so it does "
    "not corrode."
)
_EXAMPLE_ITEM = {
    "question": "Why does a capacitive soil moisture sensor not corrode?",
    "options": ["It has no exposed metal", "It is coated in gold", "It is only used in dry soil"],
    "answer": 0,
    "explanation": "Unlike resistive sensors, a capacitive sensor has no exposed metal.",
}


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


QUIZ_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", _SYSTEM),
        ("human", _braces(_EXAMPLE_PASSAGE)),  # one worked example: small models copy its shape
        ("ai", _braces(json.dumps(_EXAMPLE_ITEM))),
        ("human", "Passage from {location}:\n{passage}"),
    ]
)


class LLMDrafter:
    """Asks a chat model for one item as JSON and parses it (the checks run afterwards).

    Example:
        >>> LLMDrafter(LocalGenerator(Path("data"))).draft(chunk).options
        ['It has no exposed metal', 'It is coated in gold', 'It is only used in dry soil']
    """

    name = "llm"

    def __init__(self, model: ChatModel, max_passage_chars: int = 1200, max_new_tokens: int = 256) -> None:
        self.model = model
        self.max_passage_chars = max_passage_chars
        self.max_new_tokens = max_new_tokens

    def messages(self, chunk: Chunk) -> list[BaseMessage]:
        """The chat the model sees for ``chunk``."""
        language = "zh" if chunk.language.lower().startswith("zh") else "en"
        return QUIZ_PROMPT.format_messages(
            language_rule=_LANGUAGE_RULE[language],
            location=chunk.location or chunk.source_path,
            passage=shorten(chunk.text, self.max_passage_chars),
        )

    def draft(self, chunk: Chunk) -> DraftItem:
        """Draft from the model's reply; the options are shuffled (models put the right one first).

        Raises:
            DraftRejected: ``malformed``.
        """
        messages = self.messages(chunk)
        if getattr(self.model, "prefills", False):
            reply = self._guided(messages)
        else:
            reply = self.model.chat(messages, self.max_new_tokens)
        question, options, answer, explanation = parse_item(reply)
        correct = options[answer]
        random.Random(chunk.chunk_id).shuffle(options)
        answer = options.index(correct)
        return DraftItem(question, tuple(options), answer, explanation.strip(), chunk, self.name)

    def _guided(self, messages: list[BaseMessage]) -> str:
        """The JSON written one field at a time, the model filling in each string.

        A 135M model cannot keep a JSON object's shape on its own; guided, its words are judged by
        the checks rather than its punctuation by the parser.
        """
        reply = '{"question": "'

        def fill(tokens: int, then: str) -> str:
            nonlocal reply
            text = self.model.chat(messages, tokens, prefix=reply, stop=('"', "\n"))[len(reply) :]
            text = " ".join(text.rstrip("\\").split())
            reply += text + then
            return text

        question = fill(60, '", "options": ["')
        options = [fill(24, '", "'), fill(24, '", "'), fill(24, '"], "answer": 0, "explanation": "')]
        explanation = fill(60, '"}')
        return json.dumps(
            {"question": question, "options": options, "answer": 0, "explanation": explanation},
            ensure_ascii=False,
        )
