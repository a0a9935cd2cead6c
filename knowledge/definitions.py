"""Questions that ask what an abbreviation stands for, and the passages that spell it out.

"What does MQTT stand for?" shares its one content word with every passage about MQTT, so ranking
alone tends to put a passage that merely uses the term first (a rubric table, a summary). A course
states an expansion in one recognisable shape: "Message Queueing Telemetry Transport (MQTT)", or
"MQTT (Message Queueing Telemetry Transport)", or "MQTT stands for …". This module tells such a
question from others and finds the sentence that spells the abbreviation out, so retrieval can put
that passage first.
"""

from __future__ import annotations

import re

_ABBREVIATION = r"([A-Za-z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*|[A-Z]{2,}[a-z]?)"
_ASKED = [
    re.compile(
        r"\bwhat\s+(?:does|do|did|is|'s)\s+(?:the\s+)?(?:acronym\s+|abbreviation\s+|term\s+)?"
        + _ABBREVIATION
        + r"\s+(?:stands?\s+for|mean|means|short\s+for|abbreviate)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b" + _ABBREVIATION + r"\s+(?:stands?\s+for|is\s+short\s+for)\s*(?:what|\?|:|$)", re.IGNORECASE
    ),
    re.compile(
        r"\b(?:expand|full\s+form\s+of|expansion\s+of|meaning\s+of)\s+(?:the\s+)?" + _ABBREVIATION,
        re.IGNORECASE,
    ),
    re.compile(
        _ABBREVIATION + r"\s*(?:是|代表|指的是|指)?\s*(?:什么|哪些词)?\s*的?\s*(?:缩写|全称|英文全称)"
    ),
    re.compile(_ABBREVIATION + r"\s*(?:代表|表示)\s*(?:什么|的是什么)"),
]
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def asked_abbreviation(question: str) -> str | None:
    """The abbreviation whose expansion the question asks for, or ``None``.

    Only a term written with at least two capitals counts ("MQTT", "IoT", "GPIO"): asked "what does
    watering mean?", the learner wants an explanation, not a letter-by-letter expansion.

    Example:
        >>> asked_abbreviation("What does MQTT stand for?")
        'MQTT'
    """
    for pattern in _ASKED:
        match = pattern.search(question)
        if match and sum(ch.isupper() for ch in match.group(1)) >= 2:
            return match.group(1)
    return None


def _initials(words: list[str], keep_small: bool) -> str:
    letters = []
    for word in words:
        for part in word.split("-"):
            if part and (keep_small or part.lower() not in _SMALL_WORDS):
                letters.append(part[0].lower())
    return "".join(letters)


def _spells(words: list[str], abbreviation: str) -> bool:
    """Whether the first few of ``words`` have the abbreviation's letters as initials."""
    wanted = abbreviation.lower()
    for n in range(1, min(len(words), len(wanted) + 3) + 1):
        head = words[:n]
        if _initials(head, keep_small=True) == wanted or (
            _initials(head, keep_small=False) == wanted and head[0].lower() not in _SMALL_WORDS
        ):
            return True
    return False


def expansion_sentence(text: str, abbreviation: str) -> str | None:
    """The sentence of ``text`` that spells ``abbreviation`` out, or ``None``.

    Recognised: "Words That Spell It (ABBR)", "ABBR (Words That Spell It)", "ABBR stands for …" and
    "ABBR is short for …"; full-width parentheses too.
    """
    escaped = re.escape(abbreviation)
    for sentence in _SENTENCE_END.split(text):
        if abbreviation not in sentence:
            continue
        for match in re.finditer(r"[(（]\s*" + escaped + r"\s*[)）]", sentence):
            before = _WORD.findall(sentence[: match.start()])
            # the words just before the parenthesis, read from where the expansion would start
            if any(_spells(before[-n:], abbreviation) for n in range(1, min(len(before), 13) + 1)):
                return sentence.strip()
        for match in re.finditer(r"\b" + escaped + r"\s*[(（]([^()（）]{3,120})[)）]", sentence):
            if _spells(_WORD.findall(match.group(1)), abbreviation):
                return sentence.strip()
        if re.search(r"\b" + escaped + r"\s+(?:stands\s+for|is\s+short\s+for)\s+\w", sentence):
            return sentence.strip()
    return None
