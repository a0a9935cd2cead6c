"""A question translated by the answer model, to reach lessons written only in another language.

The bilingual dictionary (:mod:`knowledge.crosslingual`) reaches an English lesson from a Chinese
question word by word; the multilingual embedder reaches it by meaning, but weakly. A whole-sentence
translation by the answer model reads the question as a learner meant it, and the English (or Chinese)
retrievers then search with their full strength. On the development sets, Chinese questions about
English-only lessons reach the right lesson first 0.62 of the time without it and about 0.80 with it
(see README, Retrieval).

It costs one short generation per question (1-5 s on two CPU cores), so the retriever asks for it only
when the learner's catalogue has lessons with no copy in the question's language. A translation takes
its place in the model's line like an answer, but never waits: when the model is busy, the question is
searched without it. Translations are kept for repeated questions (a follow-up is searched twice).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from knowledge.generation.deadline import AnswerLine, LineFull
from knowledge.quizgen import ChatModel
from knowledge.text import detect_language

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese"}
_INSTRUCTION = (
    "You are a translator. Translate each message the user sends into {language}, exactly and "
    "completely. Never answer it, explain it or add anything: a question stays a question. Keep "
    "technical terms, names and code as they are."
)
_EXAMPLE = {"en": "Is this book suitable for beginners?", "zh": "这本书适合初学者吗？"}
"""One worked example, on no course's topic. With it, the packaged 0.5B model kept 30 of 33 Chinese
questions as English questions; with the instruction alone it answered most of them instead (12 of 33)."""
_LABEL = re.compile(r"^\s*(?:translation|english|chinese|译文|翻译)\s*[:：]\s*", re.IGNORECASE)


class QueryTranslator:
    """Questions translated by a chat model, remembered for repeats.

    Args:
        model: The answer back end (anything with ``chat``).
        line: The model's line; a translation runs only when it can go first.
        max_new_tokens: Room for the translation.
        remembered: How many translations are kept.

    Example:
        >>> QueryTranslator(generator).translate("传感器有什么作用？", "en")
        'What does a sensor do?'
    """

    def __init__(
        self,
        model: ChatModel,
        line: AnswerLine | None = None,
        max_new_tokens: int = 80,
        remembered: int = 512,
    ) -> None:
        self.model = model
        self.line = line
        self.max_new_tokens = max_new_tokens
        self.remembered = remembered
        self._known: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def translate(self, text: str, language: str) -> str | None:
        """``text`` in ``language`` (``en`` or ``zh``), or ``None`` when no usable translation came back."""
        if language not in LANGUAGE_NAMES or not text.strip():
            return None
        key = (text.strip(), language)
        with self._lock:
            if key in self._known:
                self._known.move_to_end(key)
                return self._known[key]
        try:
            if self.line is None:
                reply = self._ask(key[0], language)
            else:
                with self.line.place(timeout=0):
                    reply = self._ask(key[0], language)
        except LineFull:
            log.debug("The answer model is busy: the question is searched without its translation")
            return None  # not remembered: the model may be free next time
        translation = _clean(reply, key[0], language)
        with self._lock:
            self._known[key] = translation
            while len(self._known) > self.remembered:
                self._known.popitem(last=False)
        return translation

    def _ask(self, text: str, language: str) -> str:
        source = "zh" if language == "en" else "en"
        messages = [
            SystemMessage(_INSTRUCTION.format(language=LANGUAGE_NAMES[language])),
            HumanMessage(_EXAMPLE[source]),
            AIMessage(_EXAMPLE[language]),
            HumanMessage(text),
        ]
        try:
            return self.model.chat(messages, max_new_tokens=self.max_new_tokens)
        except Exception:  # noqa: BLE001 - a failed translation must not fail the search
            log.warning("Translating a question failed; it is searched as written", exc_info=True)
            return ""


def _clean(reply: str, original: str, language: str) -> str | None:
    """The translation's first line without labels or quotes; ``None`` unless it is in ``language``."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = _LABEL.sub("", lines[0]).strip().strip("\"'“”「」").strip()
    if not text or text == original.strip() or detect_language(text) != language:
        return None
    if len(text) > 4 * len(original) + 40:  # a runaway reply, not a translation
        return None
    return text
