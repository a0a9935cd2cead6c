"""A course's key terms: the nouns and noun phrases a quiz may ask for, and the course's pool of them.

There is no part-of-speech tagger among our dependencies, so English nouns are recognised the way a
reader of the course would: a word the course puts after an article ("the broker", "a relay") and
that ends a phrase, never a common word (:data:`knowledge.quizrubric.COMMON`), an adverb or a verb
form. A noun phrase is a run of such words and their modifiers ("soil moisture sensor"); a name is a
run of capitalised words or an acronym ("Azure Maps", "MQTT"). Chinese uses jieba's part-of-speech
tags, and adjacent nouns are kept together so a compound stays whole (密码管理器, not 管理器).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jieba.posseg

from knowledge.extractive import split_sentences
from knowledge.models import Chunk
from knowledge.quizrubric import COMMON, COMMON_ZH
from knowledge.text import CJK, tokenize

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|\d+(?:[.,]\d+)?")
_CODE_SPAN = re.compile(r"`[^`]*`|\b[a-z][a-z0-9+.-]*://\S+", re.I)  # code and URLs
_GLUE = "./@\\:_`$"  # a term touching these is part of a URL, a path, an address or code
DETERMINERS = frozenset(
    "a an the your our their its his her my any every each some many".split()  # not "this": a pronoun too
)
VERB_CONTEXT = frozenset(
    """to will can could should must may might would not never you we they it i is are was were be been
    being do does did don't doesn't didn't cannot also which who then very more most too so quite less
    really fairly become becomes became get gets seem seems""".split()
)
"""A word right after these is a verb or an adjective ("to encrypt", "it involves", "is sent")."""
FUNCTION_WORDS = frozenset(
    """as well via per etc like just even yet still already ever either neither whether one two three four
    five six seven eight nine ten include includes including""".split()
)
_NOT_NOUN = re.compile(r"(?:ly|ed|ful|ous|ive|able|ible|less|est)$")
_CJK_NOUN = ("n", "nz", "ns", "nt", "nw", "eng")  # not "vn": 编程, 测量 start clauses, not names
# not "nr" (a person's name): in a course it is mostly a mis-tag ("向云" of "向云提供商")
_CJK_CONTINUES = ("vn",)
"""Tags that may continue a compound but not start one (智能 + 设备)."""
_CJK_PREPOSITION = "对向把被给从在用将"
"""A preposition jieba glued to the noun after it ("对模型"): not part of the term."""
_CJK_FUNCTION = frozenset(
    "的地得了着过是在和与或及为到从向对把被给中上下内外里时等也都就而且将会能可要让使由以于之其并"
    "仅只还才又再已"
)
"""One-character words that may follow a term; any other lone character glued to it (框 of 边界框) is
part of a longer word, so the term is not whole."""
_CJK_NOT_IN_TERM = frozenset("时们等")
CJK_NOUN_MARKS = frozenset("的个种些类套台款张条项位每各这那")
"""Characters a Chinese noun follows (的, measure words, determiners); not 其 or 该, which also end
pronouns and words before a verb (将其部署, 应该)."""
CONTEXT_WINDOW = 3
NEAR_WEIGHT = 3
"""Words this close to a term count this many times more in its context: they say what kind it is."""
CJK_COMPOUND = 8
"""The longest Chinese compound (in characters) asked as one term."""


@dataclass(frozen=True)
class Term:
    """A key term as written in one sentence: its text, index key, kind and place."""

    surface: str
    key: str
    kind: str
    start: int
    end: int
    whole: bool = True
    """The whole noun phrase of its place (not "circuit" of "control circuit"): only these are blanked."""

    @property
    def words(self) -> int:
        """How many words it has."""
        return len(self.surface.split()) if not CJK.search(self.surface) else 1


@dataclass
class PoolTerm:
    """A course term as a distractor candidate: its usual form and where it occurs."""

    kind: str
    surface: str = ""
    count: int = 0
    wholes: int = 0
    """Times it stood as a whole phrase (not "Maps" of "Azure Maps"): only those are distractors."""
    chunks: set[str] = field(default_factory=set)
    lessons: set[str] = field(default_factory=set)
    per_lesson: Counter[str] = field(default_factory=Counter)
    forms: Counter[str] = field(default_factory=Counter)
    context: Counter[str] = field(default_factory=Counter)
    """The other key words of the sentences it stands in: terms used alike are of the same kind."""
    marked: int = 0
    """Times a Chinese term stood after 的 or a measure word (一个控制器): a noun, not a mis-tagged verb."""


@dataclass
class _Token:
    text: str
    start: int
    end: int
    blocked: bool  # code, URL, glued to punctuation, or a stopword: breaks a phrase


def _tokens(sentence: str) -> list[_Token]:
    code = [m.span() for m in _CODE_SPAN.finditer(sentence)]
    found = []
    for match in _WORD.finditer(sentence):
        start, end = match.span()
        before = sentence[start - 1] if start else " "
        after = sentence[end] if end < len(sentence) else " "
        # "63B", "config.py", "won't", "company's": part of a longer token
        glued = after.isalnum() or (after in _GLUE + "'’" and sentence[end + 1 : end + 2].isalnum())
        blocked = (
            before in _GLUE or glued or any(a <= start < b for a, b in code) or not tokenize(match.group())
        )
        found.append(_Token(match.group(), start, end, blocked))
    return found


def _kind(surface: str) -> str:
    if surface[0].isdigit():
        return "number"
    words = surface.split()
    if len(words) == 1 and len(surface) >= 2 and surface.replace("-", "").isupper():
        return "acronym"
    if any(w[0].isupper() or not w[1:].islower() for w in words if w[0].isalpha()):
        return "name"
    return "noun-plural" if surface.endswith("s") and not surface.endswith("ss") else "noun"


class NounEvidence:
    """Which lowercase words the course uses as nouns: after an article, at the end of a phrase."""

    def __init__(self, sentences: Sequence[str]) -> None:
        self.after_article: Counter[str] = Counter()
        self.after_verb_context: Counter[str] = Counter()
        self.phrase_final: Counter[str] = Counter()
        self.article_final: Counter[str] = Counter()  # "the relay." but not "the physical connectivity"
        self.capitalised: Counter[str] = Counter()
        self.lowercase: Counter[str] = Counter()
        self.phrases: Counter[str] = Counter()  # 2-3 adjacent content words: "bounding box" recurs
        for sentence in sentences:
            tokens = _tokens(sentence)
            for n in range(len(tokens)):
                for size in (2, 3):
                    gram = tokens[n : n + size]
                    if (
                        len(gram) == size
                        and not any(t.blocked for t in gram)
                        and all(_adjacent(sentence, a, b) for a, b in zip(gram, gram[1:], strict=False))
                    ):
                        self.phrases[sentence[gram[0].start : gram[-1].end].lower()] += 1
            for n, token in enumerate(tokens):
                word = token.text.lower()
                previous = tokens[n - 1].text.lower() if n else ""
                if n and _adjacent(sentence, tokens[n - 1], token):
                    if previous in DETERMINERS:
                        self.after_article[word] += 1
                    elif previous in VERB_CONTEXT:
                        self.after_verb_context[word] += 1
                if n and token.text[0].isupper():
                    self.capitalised[word] += 1
                elif token.text[0].islower():
                    self.lowercase[word] += 1
                following = tokens[n + 1] if n + 1 < len(tokens) else None
                if following is None or following.blocked or not _adjacent(sentence, token, following):
                    self.phrase_final[word] += 1
                    if n and tokens[n - 1].text.lower() in DETERMINERS:
                        self.article_final[word] += 1

    def is_noun(self, word: str) -> bool:
        """A content word the course puts after an article and at the end of a phrase."""
        lower = word.lower()
        if lower in COMMON or lower in FUNCTION_WORDS or _NOT_NOUN.search(lower) or len(lower) < 3:
            return False
        if lower.endswith("er") and (self.lowercase[lower[:-2]] or self.lowercase[lower[:-3]]):
            return False  # "longer", "bigger": comparatives
        if lower.endswith("ing") and self.after_article[lower] < 2:
            return False  # "using", "sending": verbs unless the course says "the setting"
        article = self.after_article[lower]
        final = self.article_final[lower]
        return article >= self.after_verb_context[lower] and final >= 1 and final >= article / 3

    def is_plain_noun(self, word: str) -> bool:
        """A noun the course mostly uses alone ("the server."), not before another ("the local network")."""
        lower = word.lower()
        return self.is_noun(word) and self.article_final[lower] >= self.after_article[lower] / 2

    def is_modifier(self, word: str) -> bool:
        """A word that may stand before a noun in a phrase: not a verb, an adverb or a function word."""
        lower = word.lower()
        if lower in FUNCTION_WORDS or lower.endswith("ly") or len(lower) < 2:
            return False
        if lower.endswith("ing") and self.after_article[lower] < 2:
            return False
        return self.after_verb_context[lower] <= self.after_article[lower] or word[:1].isupper()

    def is_name(self, word: str) -> bool:
        """A capitalised word the course writes capitalised mid-sentence more often than in lower case."""
        lower = word.lower()
        if word.isupper() and len(word) >= 2 or not word[1:].islower():
            return True  # "MQTT", "IoT"
        return self.capitalised[lower] >= 1 and self.capitalised[lower] > 2 * self.lowercase[lower]

    def is_verb(self, word: str) -> bool:
        """A word the course uses as a verb more than as a noun (an imperative "Press", "Select")."""
        lower = word.lower()
        return self.after_verb_context[lower] > self.after_article[lower]


def _adjacent(sentence: str, a: _Token, b: _Token) -> bool:
    return sentence[a.end : b.start] in (" ", "-")


def english_terms(sentence: str, nouns: NounEvidence) -> list[Term]:
    """Noun phrases (1-3 words, ending in a noun), names and numbers of an English sentence."""
    tokens = _tokens(sentence)
    found: list[Term] = []
    run: list[_Token] = []
    offset = len(sentence) - len(sentence.lstrip(" \"'“("))

    def close() -> None:
        # the phrase is the run's last 1-3 words; shorter ones go to the pool of distractors only
        for end in range(len(run)):
            last = run[end]
            name = last.start != offset and last.text[0].isupper() and nouns.is_name(last.text)
            if last.text[0].isdigit():
                found.append(Term(last.text, last.text, "number", last.start, last.end, len(run) == 1))
                continue
            if not (name or (last.text.isupper() and len(last.text) >= 2) or nouns.is_noun(last.text)):
                continue
            for begin in range(max(0, end - 2), end + 1):
                words = run[begin : end + 1]
                if any(len(w.text) < 2 or w.text.lower() in FUNCTION_WORDS for w in words):
                    continue
                if any(
                    w.text[0].isupper() and w.start != offset and not nouns.is_name(w.text) for w in words
                ):
                    continue  # "Select Yes", "Think": capitalised as a label or a button, not a name
                if any(
                    w.text[0].isdigit()
                    or not (nouns.is_noun(w.text) or w.text[0].isupper() and w.start != offset)
                    for w in words[:-1]
                ):
                    continue  # compounds only: "bounding box", "Azure Maps", not "different fruit"
                surface = sentence[words[0].start : last.end]
                key = " ".join(tokenize(surface))
                shown = surface
                if words[0].start == offset and words[0].text[1:].islower():
                    shown = surface[0].lower() + surface[1:]  # sentence case is no name
                if key and not all(w.text.lower() in COMMON for w in words):
                    # the longest phrase that ends the run: a blank inside a phrase leaves a hint
                    whole = end == len(run) - 1 and not any(t.end == last.end for t in found)
                    found.append(Term(surface, key, _kind(shown), words[0].start, last.end, whole))
        run.clear()

    for token in tokens:
        if token.blocked or (run and not _adjacent(sentence, run[-1], token)):
            close()
        if not token.blocked:
            run.append(token)
    close()
    return found


def chinese_terms(sentence: str) -> list[Term]:
    """Nouns of a Chinese sentence (jieba's tags), adjacent nouns joined into one compound.

    A noun glued to Latin letters or digits ("Arduino框架"), to a lone character of a longer word
    (边界 of 边界框) or cut from a compound longer than :data:`CJK_COMPOUND` characters is a part, not
    a whole term: it is not blanked.
    """
    found: list[Term] = []
    at, run, run_start, glued = 0, "", 0, False

    def close() -> None:
        if len(run) >= 2 and tokenize(run) and run not in COMMON_ZH:
            end = run_start + len(run)
            touching = sentence[run_start - 1 : run_start] + sentence[end : end + 1]
            whole = not glued and not re.search(r"[A-Za-z0-9]", touching)
            found.append(Term(run, run, "cjk", run_start, end, whole))

    pairs = [(p.word, p.flag) for p in jieba.posseg.lcut(sentence)]
    for n, (word, flag) in enumerate(pairs):
        start = sentence.find(word, at)
        if start < 0:
            continue
        at = start + len(word)
        if len(word) >= 3 and word[0] in _CJK_PREPOSITION and flag in _CJK_NOUN:
            word, start = word[1:], start + 1
        noun = flag in _CJK_NOUN and bool(CJK.search(word)) and word not in _CJK_NOT_IN_TERM
        following, tag = pairs[n + 1] if n + 1 < len(pairs) else ("", "")
        glued_after = (
            len(following) == 1
            and bool(CJK.match(following))
            and tag[:1] in ("n", "v", "k", "a", "b")
            and following not in _CJK_FUNCTION
        )
        if (noun or flag in _CJK_CONTINUES) and run and run_start + len(run) == start:
            if len(run) + len(word) <= CJK_COMPOUND:
                run += word
                glued = glued_after
                continue
            glued = True  # a compound too long to ask whole: its parts are no answer either
            close()
            run, run_start = word, start
            continue
        close()
        glued = noun and glued_after
        run, run_start = (word, start) if noun else ("", 0)
    close()
    return found


class CourseTerms:
    """The key terms of a course, by kind, with where each occurs (the supply of distractors).

    ``prose`` says which sentences supply the pool (all of them by default).

    Example:
        >>> pool = CourseTerms(course_chunks)
        >>> [t.surface for t in pool.terms("A relay is an electrically operated switch.")]
        ['relay', 'switch', 'operated switch']
    """

    def __init__(self, chunks: Sequence[Chunk], prose: Callable[[str], bool] = lambda s: True) -> None:
        sentences = [(c, s) for c in chunks for s in split_sentences(c.text)]
        self.nouns = NounEvidence([s for _, s in sentences if not CJK.search(s)])
        self.pool: dict[str, dict[str, PoolTerm]] = defaultdict(dict)
        self.lessons = len({c.lesson_id for c in chunks})
        for chunk, sentence in sentences:
            if not prose(sentence):
                continue  # captions, credits and code lines name people and files, not course terms
            words = tokenize(sentence)
            for term in self.terms(sentence):
                entry = self.pool[term.kind].setdefault(term.key, PoolTerm(term.kind))
                own = set(term.key.split())
                entry.context.update(w for w in words if w not in own and w not in term.key)
                near = (
                    tokenize(sentence[: term.start])[-CONTEXT_WINDOW:]
                    + tokenize(sentence[term.end :])[:CONTEXT_WINDOW]
                )
                entry.context.update({w: NEAR_WEIGHT for w in near if w not in own})
                entry.marked += term.kind == "cjk" and sentence[term.start - 1 : term.start] in CJK_NOUN_MARKS
                entry.count += 1
                entry.wholes += term.whole
                entry.chunks.add(chunk.chunk_id)
                entry.lessons.add(chunk.lesson_id)
                entry.per_lesson[chunk.lesson_id] += 1
                entry.forms[term.surface if term.kind != "noun" else term.surface.lower()] += 1
        for entries in self.pool.values():
            for entry in entries.values():
                entry.surface = entry.forms.most_common(1)[0][0]

    def terms(self, sentence: str) -> list[Term]:
        """The key-term candidates of one sentence."""
        return chinese_terms(sentence) if CJK.search(sentence) else english_terms(sentence, self.nouns)

    def entry(self, term: Term) -> PoolTerm | None:
        """The course-wide record of a term."""
        return self.pool.get(term.kind, {}).get(term.key)
