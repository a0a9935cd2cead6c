"""The model-free quiz drafter: three kinds of item from a chunk's key sentences, no model needed.

- **definition -> term**: "A relay is an electrically operated switch." becomes *Which term does the
  lesson define as "an electrically operated switch"?*;
- **which would you use**: "You can use Azure Maps to draw a route on a map." becomes *Which would you
  use to draw a route on a map?*;
- **fill in the blank**: a key sentence with its most salient key term blanked.

The answer is always a key term (:mod:`knowledge.keyterms`: a noun phrase, a name, a number, a
Chinese compound), never a common word; sentences that point at a figure, hold code, give a step or
lean on the sentence before are skipped, and a blank goes only in a short plain statement.
Distractors (:mod:`knowledge.distractors`) are key terms of the same course and kind, the ones the
course uses most like the answer first.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Protocol

from knowledge.distractors import DistractorPicker
from knowledge.extractive import split_sentences
from knowledge.keyterms import CourseTerms, Term
from knowledge.models import Chunk
from knowledge.quizgen import BLANK, CLOZE_PROMPTS, Checker, DraftItem, DraftRejected
from knowledge.quizrubric import NEEDS_CONTEXT, ZH_NEEDS_CONTEXT, figure_reference
from knowledge.text import CJK, tokenize

_POINTS_AWAY = re.compile(
    r"\b(?:this|that|these|the following|the above|the previous|the next)\s+(?:line|code|step|command"
    r"|file|function|method|folder|snippet|setting|value|example|section)s?\b|\bthe code\b"
    r"|\b(?:of|from|on|in|with|use) (?:these|those|them)\b|\bsuch an? \w+"
    r"|\b(?:previous|last|next) (?:few )?(?:lessons?|projects?|steps?|parts?)\b|\bfollow the steps\b",
    re.I,
)
"""A sentence about code or steps the learner does not see in a quiz ("you can change this line")."""
_INTERFACE = re.compile(r"\b(?:gr[ae]yed out|re-?enabled|drop-?down|check-?box|toolbar)\b", re.I)
"""The state of a screen ("The button will be greyed out whilst training"): a detail, not the lesson."""
_STEPS = re.compile(
    r"\b(?:you will|you'll|you can now|we will|let's|in this lesson|this lesson|this page|this course"
    r"|this repo|repo|click|select|for example|for instance|notebook)\b|\w\.(?:com|org|net|io)\b|\be\.g\.",
    re.I,
)
_IMPERATIVE = re.compile(
    r"^(?:(?:From|In|On|Under|Inside|Back in)\b[^,]{0,60},\s*)?"
    r"(?:copy|open|create|add|set|enter|choose|paste|run|go|navigate|install|replace|change|type|press"
    r"|save|download|upload|launch|delete|remove|make sure|ensure|check|try|use)\s+"
    r"(?:the|a|an|your|this|that|it|its|in|to|up|out|on|back|any|all|each|one)\b",
    re.I,
)
"""An instruction ("From the Settings section, copy the App ID", "Replace the key with …"): a step of
the learner's task, not a fact of the lesson."""
_ZH_STEPS = re.compile(
    r"如下|以下|下面|上面|这里|本课|本节|你将|我们将|点击|勾选|单击|按钮|复选框|选项卡"
    r"|^(?:收集|打开|创建|添加|选择|运行|安装|设置|确保|记住|注意|查看|阅读|访问|下载|配置|编写|将|把|使用)"
)
"""A Chinese step or instruction: screen words, or an imperative verb first (收集……, 将……添加到)."""
_SPEECH = re.compile(r"\"[^\"]*\"|“[^”]*”|「[^」]*」")
"""Quoted speech or labels ("Turn the lights on"): an example, not the lesson's point."""
_PARENTHETICAL = re.compile(r"^\s*(?:\([^)]{1,60}\)|（[^）]{1,60}）)")
_DEFINES = re.compile(r"\s+(?:is|are)\s+((?:an?|the|one of the)\s+.{12,}?)[.!]?$")
_USED_TO = re.compile(r"\s+(?:is|are|can be)\s+used\s+to\s+(\w.{10,}?)[.!]?$")
_LETS = re.compile(r"\s+(?:lets|allows|enables)\s+you\s+to\s+(\w.{10,}?)[.!]?$")
_APPOSITIVE = re.compile(r",\s+(an?\s+[a-z][\w-]*(?:\s+[a-z][\w-]*){1,5})(?:[,;]|\.$)")
_WITH_BEFORE = re.compile(r"^(?:With|Using)\s+(?:an?\s+|the\s+)?$")
_YOU_CAN = re.compile(r",\s+you\s+can\s+(\w.{10,}?)[.!]?$")
_USE_BEFORE = re.compile(r"\b[Uu]se\s+(?:an?\s+|the\s+)?$")
_USE_TO = re.compile(r"\s+to\s+(\w.{10,}?)[.!]?$")
_ZH_DEFINES = re.compile(r"^(?:是|指)(?:一种|一个|一类)?(.{6,}?)[。！]?$")
_CALLED_BEFORE = re.compile(
    r"^(?:An?|The)\s+(\w.{12,}?)\s+(?:is|are)\s+(?:called|known\s+as)\s+(?:an?\s+|the\s+)?$"
)
_ZH_CALLED_BEFORE = re.compile(r"^(.{6,}?)(?:被)?(?:称为|称作|叫做)$")
_END = re.compile(r"^\s*[.!。！]?\s*$")
_PERSONAL = re.compile(
    r"^(?:You|We|I|Let)\b|\b(?:you|we)(?:'ll|'re|\s+(?:can|could|will|would|should|need|must|may|might|have|want|are))\b"
)
_ZH_PERSONAL = re.compile(r"你|您|我们|咱们|这种|这些|这个|这样的|此类|上述")
"""The learner as the one who acts, or a pointer to what came before (这种架构): no plain fact."""
_CONDITION = re.compile(
    r"^(?:If|When|Whenever|After|Before|How|Although|Though|While|Whilst|Because|Since|Unless|Until)\b"
)
_ZH_CONDITION = re.compile(
    r"^(?:如果|假如|假设|当|虽然|尽管|因为|由于|一旦|只要|除非|直到|想一想|想想|思考|考虑|请|尝试)"
)
"""A sentence that opens with a condition or an aside (or asks the learner to think): its fact is not
plain enough for a blank."""
_STATEMENT = 150
_ZH_STATEMENT = 90
"""The longest sentences (characters) blanked: a longer one buries its term in detail."""
_VERB_BEFORE = {"can", "could", "will", "would", "should", "must", "may", "might", "to", "you", "we", "they"}
_BARE_AFTER = re.compile(r"\b(?:on|for|at|by|from|with|into|over|under|about|in)\s+$", re.I)
"""A preposition right before a singular noun with no article ("on board", "for translation"): an idiom
or a mass noun, whose blank any of several words could fill."""
_EMPHASIS = re.compile(r"\*{1,2}([^*]+)\*{1,2}")
_ARTICLE_ONLY = re.compile(r"^\s*(?:An?|The)?\s*$")
PROMPTS = {
    "define": {
        "en": 'Which term does the lesson define as "{body}"?',
        "zh": "课程中哪个术语指的是「{body}」？",
    },
    "use": {"en": "Which would you use to {body}?", "zh": "要{body}，应该用哪一个？"},
}
"""Questions of the item kinds beyond the blank, by language; ``{body}`` comes from the lesson."""
BONUS = {"define": 2.0, "use": 2.0, "blank": 0.0}
"""Definition and use items ask what a term is for, so they are preferred where a sentence allows one."""


class Vocabulary(Protocol):
    """Term statistics of the keyword index (``KeywordIndex`` has them)."""

    def document_frequency(self, term: str) -> float:
        """Share of chunks that contain ``term``."""
        ...

    def size(self) -> int:
        """How many chunks are indexed."""
        ...


def good_sentence(sentence: str) -> bool:
    """A sentence worth quizzing on: prose of a fair length, self-contained, no code, no figure."""
    if figure_reference(sentence) or "`" in sentence or " - " in sentence or _STEPS.search(sentence):
        return False
    if CJK.search(sentence):
        return (
            12 <= len(sentence) <= 160
            and not sentence.endswith(("：", ":", "？", "?"))
            and not ZH_NEEDS_CONTEXT.match(sentence)
            and not _ZH_STEPS.search(sentence)
            and CJK.match(sentence) is not None  # not an emoji call-out or a list scrap
        )
    return (
        40 <= len(sentence) <= 220
        and len(sentence.split()) >= 6
        and not sentence.endswith((":", "?"))
        and (sentence[0].isupper() or sentence[0].isdigit())
        and not NEEDS_CONTEXT.match(sentence)  # "It is ..." means nothing without the sentence before
        and not _POINTS_AWAY.search(sentence)
        and not _INTERFACE.search(sentence)
    )


def statement(sentence: str) -> bool:
    """A fact worth a blank: short, not a step for the learner ("you can ..."), not a condition.

    "You can …", "we will …" and "你……" sentences mostly walk the learner through a task; a sentence
    opening with a condition ("If …", "如果……") states no plain fact; a long one buries its term.
    """
    if CJK.search(sentence):
        return (
            len(sentence) <= _ZH_STATEMENT
            and not _ZH_PERSONAL.search(sentence)
            and not _ZH_CONDITION.match(sentence)
        )
    return len(sentence) <= _STATEMENT and not _PERSONAL.search(sentence) and not _CONDITION.match(sentence)


def _subject_bonus(sentence: str, term: Term) -> float:
    """A term that opens its sentence ("SPI is full-duplex") is what the sentence is about."""
    opening = sentence[: term.start].strip(" \"'“(")
    return 0.5 if not opening or _ARTICLE_ONLY.match(opening) else 0.0


def item_forms(sentence: str, term: Term) -> Iterator[tuple[str, str]]:
    """The kinds of item a sentence supports for ``term``: ``(kind, body)``; a blank always."""
    before, after = sentence[: term.start], sentence[term.end :]
    after = _PARENTHETICAL.sub("", after, count=1)  # "MQTT (Message Queueing ...) is a protocol"
    if term.kind == "cjk":
        after = after.lstrip()
    if term.kind == "cjk":
        match = _ZH_DEFINES.match(after) if not before.strip() else None
        if match:
            yield "define", match.group(1)
        match = _ZH_CALLED_BEFORE.match(before) if _END.match(after) else None
        if match and not re.search(r"[，,；;]", match.group(1)):  # "……的设备称为执行器。"
            yield "define", match.group(1)
    elif term.kind != "number":
        at_start = _ARTICLE_ONLY.match(before)
        for pattern, kind in ((_DEFINES, "define"), (_USED_TO, "use"), (_LETS, "use")):
            match = pattern.match(after) if at_start else None
            if match and "," not in match.group(1)[:3]:
                yield kind, match.group(1)
        if _USE_BEFORE.search(before):
            match = _USE_TO.match(after)
            if match:
                yield "use", match.group(1)
        if _WITH_BEFORE.match(before):
            match = _YOU_CAN.match(after)
            if match:
                yield "use", match.group(1)
        match = _CALLED_BEFORE.match(before) if _END.match(after) else None
        if match:  # "A device that turns a signal into motion is called an actuator."
            yield "define", f"a {match.group(1)}" if before[:1] == "A" else match.group(1)
        match = _APPOSITIVE.match(after)  # "Twilio, a communications platform, ..."
        if match:
            yield "define", match.group(1)
    yield "blank", ""


class ClozeDrafter:
    """Definition, "which would you use" and fill-in-the-blank items from the course text alone.

    Deterministic, and no model is needed.

    Example:
        >>> drafter = ClozeDrafter(course_chunks, keyword_index)
        >>> drafter.draft(chunk).question
        'Which term does the lesson define as "an electrically operated switch"?'
    """

    name = "extractive"

    def __init__(self, course_chunks: Sequence[Chunk], vocabulary: Vocabulary, options: int = 4) -> None:
        if options not in (3, 4):
            raise ValueError("options must be 3 or 4")
        self.vocabulary = vocabulary
        self.options = options
        self.course = CourseTerms(course_chunks, good_sentence)
        # in a long course a noun used once is more likely a scrap than a term; a short one has few repeats
        self.long_course = len(course_chunks) >= 30
        self._text = "\n".join(chunk.text for chunk in course_chunks)
        self._bound: dict[str, bool] = {}
        self.distractors = DistractorPicker(self.course, self.idf, 2 if self.long_course else 1)

    def idf(self, key: str) -> float:
        """How rare a term is across the index (a multi-word key counts its rarest word)."""
        size = max(self.vocabulary.size(), 1)
        return max(
            math.log(1.0 / max(self.vocabulary.document_frequency(word), 0.5 / size)) for word in key.split()
        )

    def _instruction(self, sentence: str) -> bool:
        if _IMPERATIVE.match(sentence):
            return True  # its terms still supply distractors: "Install Azurite" names a course term
        first = sentence.split()[0].strip("*\"'")
        return bool(tokenize(first)) and self.course.nouns.is_verb(first)

    def salience(self, term: Term, chunk: Chunk, counts: Counter[str]) -> float:
        """TF-IDF of the term in its chunk, raised for what the lesson is about, lowered for one-offs."""
        words = term.key.split()
        score = self.idf(term.key) * (1 + math.log(min(counts[w] for w in words) or 1))
        entry = self.course.entry(term)
        if entry is not None and term.kind != "number" and self.long_course and self.course.lessons >= 5:
            if len(entry.lessons) > self.course.lessons / 2:
                return 0.0  # in most lessons of the course ("data", "code"): no lesson's key term
            single = term.words == 1 and (term.kind.startswith("noun") or term.kind == "cjk")
            if single and entry.per_lesson[chunk.lesson_id] < 2:
                return 0.0  # a lesson's key noun comes back in the lesson; "price" said once is colour
            score *= 0.5 + entry.per_lesson[chunk.lesson_id] / entry.count  # the lesson's own terms first
            if term.kind == "cjk" and not entry.marked:
                return 0.0  # never after 的 or a measure word in the whole course: not used as a noun
        if entry is None or entry.count < 2:
            if term.kind in ("noun", "noun-plural", "cjk") and term.words == 1 and self.long_course:
                return 0.0  # a common noun used once in the whole course is not what the lesson teaches
            score *= 0.6
        elif term.words > 1 and not self.course.nouns.is_noun(term.surface.split()[0]):
            if term.kind in ("noun", "noun-plural"):
                return 0.0  # "different fruit" once: an adjective and a noun, not a term of the course
        if term.kind == "number":
            score *= 0.5  # a figure is a detail, rarely the point
        if term.words > 1 or term.kind in ("name", "acronym", "cjk"):
            score *= 1.2
        if set(words) & set(tokenize(chunk.location)):
            score += 1.0  # named in the lesson title or the section heading
        return score

    def draft(self, chunk: Chunk) -> DraftItem:
        """The best item of the chunk's key sentences that passes the checks.

        Raises:
            DraftRejected: ``no_candidate`` when no sentence and term work.
        """
        counts = Counter(tokenize(chunk.text))
        candidates = []
        sentences = [s for s in split_sentences(chunk.text) if good_sentence(s)]
        # an instruction ("Press the C button") is a step to follow, not a fact to learn
        sentences = [s for s in sentences if not self._instruction(s)]
        for n, sentence in enumerate(sentences):
            for term in self.course.terms(sentence):
                base = self.salience(term, chunk, counts) if term.whole else 0.0
                if base <= 0:
                    continue
                for kind, body in item_forms(sentence, term):
                    if kind == "blank" and not statement(sentence):
                        continue
                    score = base + BONUS[kind] + 0.3 / (1 + n) + _subject_bonus(sentence, term)
                    candidates.append((score, n, term.start, -len(term.surface), sentence, term, kind, body))
        checker = Checker()
        for *_, sentence, term, kind, body in sorted(candidates, key=lambda c: (-c[0], *c[1:4])):
            item = self._item(chunk, sentence, term, kind, body)
            if item is None:
                continue
            try:
                checker.check(item)
            except DraftRejected:
                continue
            return item
        raise DraftRejected("no_candidate", "no sentence with a key term and enough distractors")

    def _item(self, chunk: Chunk, sentence: str, term: Term, kind: str, body: str) -> DraftItem | None:
        language = "zh" if CJK.search(sentence) else "en"
        if any(m.start() <= term.start < m.end() for m in _SPEECH.finditer(sentence)):
            return None  # a quoted example ("Turn the lights on"), not the lesson's point
        if language == "en" and not self._stands_alone(sentence, term):
            return None
        if kind == "blank":
            if language == "en" and term.kind == "noun" and term.words == 1:
                if _BARE_AFTER.search(sentence[: term.start]):
                    return None
            pattern = re.compile(rf"(?<![\w-]){re.escape(term.surface)}(?![\w-])", re.I)
            seen = len(pattern.findall(sentence)) if language == "en" else sentence.count(term.surface)
            if seen > 1:
                return None  # two blanks for one answer, or the answer inside another word (结构化)
            if language == "zh" and self._bound_to_next(sentence, term):
                return None
            blanked = (
                pattern.sub(BLANK, sentence) if language == "en" else sentence.replace(term.surface, BLANK)
            )
            blanked = re.sub(rf"\b([Aa])n? {BLANK}", rf"\1(n) {BLANK}", blanked)  # "an" gives vowels away
            question = (
                f'{CLOZE_PROMPTS["en"]} "{blanked}"'
                if language == "en"
                else f"{CLOZE_PROMPTS['zh']}{blanked}"
            )
        else:
            question = PROMPTS[kind][language].format(
                body=body[:1].lower() + body[1:] if body[1:2].islower() else body
            )
        distractors = self.distractors.pick(term, question, chunk, self.options - 1)
        if len(distractors) < 2:
            return None
        initial = kind == "blank" and not sentence[: term.start].strip(" \"'“(")
        answer = term.surface
        if kind != "blank" and term.kind in ("noun", "noun-plural"):
            answer = answer[:1].lower() + answer[1:] if answer[1:2].islower() else answer
        if initial and term.kind in ("noun", "noun-plural"):
            distractors = [d[:1].upper() + d[1:] for d in distractors]
        options = [answer, *distractors[: self.options - 1]]
        random.Random(chunk.chunk_id).shuffle(options)
        explanation = f"课程原文：「{sentence}」" if language == "zh" else f'The lesson says: "{sentence}"'
        question, explanation = _EMPHASIS.sub(r"\1", question), _EMPHASIS.sub(r"\1", explanation)
        return DraftItem(question, tuple(options), options.index(answer), explanation, chunk, self.name)

    def _bound_to_next(self, sentence: str, term: Term) -> bool:
        """Whether a Chinese term is bound to the characters after it, so not a whole answer.

        Bound: the course mostly writes it as part of a longer word (边缘 of 边缘计算), or it is a verb
        jieba tagged a noun (部署到云端: a noun takes no 到 after it).
        """
        following = sentence[term.end : term.end + 2]
        if following[:1] == "到":
            return True
        if len(following) < 2 or not all(CJK.match(ch) for ch in following):
            return False
        pair = term.surface + following
        if pair not in self._bound:
            together, alone = self._text.count(pair), self._text.count(term.surface)
            self._bound[pair] = together >= 3 and together >= 0.2 * alone
        return self._bound[pair]

    def _stands_alone(self, sentence: str, term: Term) -> bool:
        """Every place of the term is a whole phrase: no "smart" left before a blanked "timer"."""
        nouns = self.course.nouns
        for match in re.finditer(rf"(?<![\w-]){re.escape(term.surface)}(?![\w-])", sentence, re.I):
            before = re.search(r"([A-Za-z][\w-]*)[ -]$", sentence[: match.start()])
            after = re.match(r"[ -]([A-Za-z][\w-]*)", sentence[match.end() :])
            if before and before.group(1).lower() in _VERB_BEFORE:
                return False  # "You can tag an object": after a modal or "to", the word is a verb
            if before and tokenize(before.group(1)) and not nouns.is_verb(before.group(1)):
                return False
            if after and tokenize(after.group(1)) and nouns.is_noun(after.group(1)):
                return False
        return True
