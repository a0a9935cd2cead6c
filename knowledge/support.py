"""Does the course material support a generated answer? Sentence by sentence, and as a whole."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from knowledge.crosslingual import holds, translate_query
from knowledge.models import ScoredChunk
from knowledge.text import detect_language, tokenize

CITATION = re.compile(r"\[(\d{1,2})\]")
"""A numbered citation in an answer: ``[2]``."""
_LEADING_CITATIONS = re.compile(r"^\s*(?:\[\d{1,2}\]\s*)+")
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")


def passage_vocabulary(passages: Iterable[ScoredChunk]) -> set[str]:
    """The keyword tokens of the passages, with where each comes from (lesson and heading)."""
    vocabulary: set[str] = set()
    for passage in passages:
        vocabulary.update(tokenize(f"{passage.chunk.location} {passage.chunk.text}"))
    return vocabulary


_IDENTIFIER = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    r"|https?://[^\s)\]）」，。；]+"
)
"""An e-mail address or a URL; an address whose name was mangled ("安全@example.com") reads as
"@example.com", which no passage holds."""


def _identifiers(text: str) -> set[str]:
    return {m.group().rstrip(".,;:!?") for m in _IDENTIFIER.finditer(text)}


def keep_supported(
    answer: str, passages: Sequence[ScoredChunk], language: str, min_support: float, question: str = ""
) -> str | None:
    """Drop the answer's sentences that the passages do not support; ``None`` when too little is left.

    A sentence is supported when at least ``min_support`` of its words occur in the passages. Small
    models drift into their own memory; this keeps only what the course says. Passages in another
    language than the answer's are read through the dictionary (:func:`bilingual_share`): a Chinese
    answer from a lesson only English holds is judged too, rather than quoted for want of shared
    words. An answer in another language than the question's (when the passages have that language)
    is not accepted. A sentence that only repeats ``question``, or asks part of it again (small models
    sometimes end by echoing it), is dropped and does not count against the answer. A sentence with an
    e-mail address or URL that no passage holds as it is written is unsupported: a learner would copy it.
    """
    if (
        language == "zh"
        and detect_language(answer) != "zh"
        and any(p.chunk.language == "zh" for p in passages)
    ):
        return None
    vocabulary = passage_vocabulary(passages)
    addresses = set().union(*(_identifiers(p.chunk.text) for p in passages))
    echo = tokenize(question)
    sentences = []  # (sentence, its words), echoes of the question left out
    space = "" if language == "zh" else " "
    for sentence in SENTENCE_END.split(answer.strip()):
        lead = _LEADING_CITATIONS.match(sentence)
        if lead and sentences:  # "… fee. [1]", "…字节。[1]下一句": citations of the sentence before
            sentences[-1] = (sentences[-1][0] + space + lead.group().strip(), sentences[-1][1])
            sentence = sentence[lead.end() :]
        words = tokenize(CITATION.sub("", sentence))
        if sentence.strip() and not (echo and _echoes(sentence, words, echo)):
            sentences.append((sentence, words))
    across = {p.chunk.language for p in passages} - {language}
    if across and language != "zh":  # Chinese passages, read in English
        vocabulary |= _rendered(p.chunk.text for p in passages if p.chunk.language == "zh")
    kept = []
    for sentence, words in sentences:
        if not _identifiers(sentence) <= addresses:
            continue
        share = sum(w in vocabulary for w in words) / len(words) if words else 1.0
        if across and language == "zh" and share < min_support:  # English passages, a Chinese answer
            share = max(share, bilingual_share(CITATION.sub("", sentence), vocabulary))
        if share >= min_support:
            kept.append(sentence.strip())
    if not kept or len(kept) * 2 < len(sentences):
        return None
    return space.join(kept)


def _echoes(sentence: str, words: list[str], question: list[str]) -> bool:
    """Whether a sentence of the answer only repeats the question: all of it, or a part asked again."""
    asks = CITATION.sub("", sentence).strip().endswith(("?", "？"))
    return words == question or (asks and bool(words) and set(words) <= set(question))


def bilingual_share(sentence: str, vocabulary: set[str]) -> float:
    """The share of a Chinese sentence's words that English ``vocabulary`` holds in translation.

    Each word counts as held when one of its dictionary renderings (CC-CEDICT, the word's first
    senses) is wholly in the vocabulary; English words in the sentence count as themselves. Words the
    dictionary lacks are not judged. 0.0 when nothing can be judged (or without the dictionary).
    """
    groups = translate_query(sentence)
    held = sum(holds(vocabulary, group) for group in groups)
    return held / len(groups) if groups else 0.0


def _rendered(texts: Iterable[str]) -> set[str]:
    """The English terms of the dictionary renderings of every Chinese word in ``texts``."""
    return {term for text in texts for group in translate_query(text) for terms in group for term in terms}


_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)
"""Code in an answer: a model writes its own variable names, so only the prose is judged."""


def support_share(
    answer: str, passages: Sequence[ScoredChunk], context: Iterable[str] = ()
) -> tuple[float, int] | None:
    """How much of a whole answer the passages hold: the share of its words they use, and its word count.

    A model shown passages that do not cover the question tends to answer from its own memory (asked
    how to file a tax return, a 0.5B model wrote the steps while the passages were about sensors), so
    an answer whose words are mostly foreign to its passages is the model's judgement that they do not
    hold the answer. ``context`` (earlier turns of the conversation) counts as held too: a follow-up
    may build on what was said. Code is left out: a model's example uses names of its own, so an
    answer that is mostly code has too few words to judge. ``None`` when the answer is in another
    language than every passage (a Chinese answer from English passages shares no words with them).
    """
    language = detect_language(answer)
    if not passages or all(p.chunk.language != language for p in passages):
        return None
    vocabulary = passage_vocabulary(passages)
    for text in context:
        vocabulary.update(tokenize(text))
    words = tokenize(CITATION.sub("", _CODE.sub(" ", answer)))
    if not words:
        return 0.0, 0
    return sum(w in vocabulary for w in words) / len(words), len(words)
