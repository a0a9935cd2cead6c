"""The parts of a teacher's rubric for quiz items that a program can check.

A teacher reading generated items rejects one whose blank is a filler word ("people", "given"),
one that points at a picture the learner cannot see ("the image above"), one whose answer is in the
question under another form ("Translator" for "translation", "Comma Separated Values" for "CSV"),
one whose correct option stands out by its length or its kind, and one with more than one right
answer (a wrong option the lesson lists beside the correct one). Each rule here is a function
that returns what is wrong, or ``""``; :class:`knowledge.quizgen.Checker` rejects drafts with them
and ``python -m eval quizgen`` counts them.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from knowledge.crosslingual import renderings
from knowledge.extractive import split_sentences
from knowledge.text import CJK, tokenize

FIGURE = re.compile(
    r"\b(?:(?:image|picture|photo|diagram|figure|fig|screenshot|illustration|video|chart|graph|table)s?"
    r"\s+(?:above|below|here)|(?:above|below|following|this|these)\s+(?:image|picture|photo|diagram|"
    r"figure|screenshot|illustration|video|chart|graph)s?|shown\s+(?:above|below|here)|as\s+you\s+can\s+"
    r"see\s+(?:above|below|in\s+the)|(?:see|in)\s+the\s+(?:image|picture|diagram|figure|screenshot)s?)\b"
    r"|(?:上图|下图|如图|图中|图片中)",
    re.I,
)
"""A reference to something on the page that a chat learner does not see."""

COMMON = frozenset(
    """ability access account action activity addition advantage amount answer approach area argument
    aspect attention back base basis beginning behaviour behavior benefit bit body bottom case cause chance
    change choice class company concept condition context control cost couple course create day deal
    detail development difference direction disadvantage downside downsides effect end energy entry
    environment event example experience extent fact feature field figure file find form front future
    goal group half hand help home hour idea image impact importance information input instance interest
    issue item job kind knowledge lack level life line list look lot making manner matter meaning means
    method middle minute mode moment month name nature need note number object option order output page
    part people person picture place plan point position possibility power practice problem process
    product project purpose quality question range rate reason result rest right role room rule sense
    series set shape side sign situation size solution something sort source space stage start state
    step story stuff subject success support system term test text thing things thought time today top
    total type understanding unit use user value variety version view way week whole word work world
    year yes given downside upside pros cons others someone everyone anyone everything nothing somebody
    lots plenty majority minority portion piece pieces dozens hundreds thousands millions billions
    local public better best worse original fast slow good bad new old high low big small large different
    simple easy hard main real full free open wrong correct incorrect second third last whole other ripe
    raw global private remote manual automatic similar specific common general single multiple various
    several entire extra external internal physical digital virtual standard basic available possible
    important useful typical certain sure great little long short true false ready upsides hood copy
    copies component components element elements capability capabilities""".split()
)
"""General words no teacher would blank: they belong to every lesson and teach none (common adjectives too,
which the course text alone cannot always tell from nouns)."""

NEEDS_CONTEXT = re.compile(
    r"^(?:It|This|These|That|Those|They|Them|He|She|Here|There|Such|Then|Now|Once|Next|Also|First|Below|Above"
    r"|Second|Finally|Instead|Otherwise|However|Therefore|After all|In this case|In that case"
    r"|(?:An|Another|One) example is)\b"
)
"""An English sentence that means nothing without the one before ("It is ...", "These ...")."""
ZH_NEEDS_CONTEXT = re.compile(
    r"^(?:这|那|此|该|它|其|他|她|然后|另外|同时|因此|所以|但是|但|不过|而且|例如|比如|首先|其次|最后|接下来|现在"
    r"|相反|然而|此外|同样|类似地|不同之处)"
)
"""A Chinese sentence that means nothing without the one before ("这些车辆……", "例如，……")."""
_BLANKS = re.compile(r"_{3,}")
_GLUED_BLANK = re.compile(r"[A-Za-z0-9$]_{3,}|_{3,}[A-Za-z0-9]")
_PROMPT = re.compile(r"^(?:Fill in the blank:|填空：)\s*[\"“]?")

COMMON_ZH = frozenset(
    """事情 东西 时候 时间 方法 方式 问题 情况 理想情况 部分 地方 内容 结果 信息 人们 原因 例子 示例 步骤
    过程 作用 能力 类型 种类 工作 需求 事物 概念 功能 条件 技术 系统 代码 数据 文件 计划 决策 程度 区别
    优势 优点 缺点 好处 目的 目标 办法 选择 方面 领域 世界 公司 用户 人员 时期 阶段 部件 细节 数量 单位
    形式 形状 样子 风险 红色 绿色 蓝色 黄色 白色 黑色 颜色""".split()
)
"""General Chinese nouns no teacher would blank (jieba tags colours as nouns too)."""

_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]{1,7}s?$")
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9]*|\d+|[\u3400-\u9fff]+")
_BLANK_IN_PARENTHESES = re.compile(r"[(（]\s*_{3,}\s*[)）]")
_SMALL = frozenset("a an and of for the to in on with by".split())


def figure_reference(*texts: str) -> str:
    """The words of any text that point at a figure, an image or a video, else ``""``."""
    for text in texts:
        match = FIGURE.search(text)
        if match:
            return match.group()
    return ""


def leans_on_context(question: str) -> str:
    """For a fill-in-the-blank item: the opening words that point at a sentence the learner has not seen."""
    if not _BLANKS.search(question):
        return ""
    sentence = _PROMPT.sub("", question.strip())
    match = NEEDS_CONTEXT.match(sentence) or ZH_NEEDS_CONTEXT.match(sentence)
    return match.group() if match else ""


def split_blank(question: str) -> str:
    """A blank that cuts a word ("Arduino_____", "US_____$") or stands twice for one answer, else ``""``."""
    blanks = len(_BLANKS.findall(question))
    if blanks > 1:
        return f"{blanks} blanks for one answer"
    glued = _GLUED_BLANK.search(question)
    return f"the blank is glued to a word: {glued.group()!r}" if glued else ""


def same_stem(a: str, b: str) -> bool:
    """Two words share a stem: one starts with the other, or a long common start ("translat-")."""
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    shorter = min(len(a), len(b))
    if shorter < 4:
        return False
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common == shorter or common >= max(5, round(0.75 * shorter))


def _words(text: str) -> list[str]:
    return _WORDS.findall(text)


def _english_of(word: str, question: str) -> str:
    """An English word of ``question`` that renders the Chinese ``word`` (CC-CEDICT), else ``""``.

    Chinese course text often keeps the English term beside or after its own ("边界框的高度为240像素，因此
    height 值为0.3"): a blank for 高度 is then answered by the sentence itself.
    """
    latin = re.findall(r"[A-Za-z][A-Za-z-]+", question)
    stems = {stem: w for w in latin for stem in tokenize(w)}
    for terms in renderings(word)[:2]:  # the common senses only
        if len(terms) == 1 and terms[0] in stems:
            return stems[terms[0]]
    return ""


def answer_leak(question: str, correct: str) -> str:
    """How the question gives its answer away: the answer, a word of its stem, its expansion, or its English.

    ``"translation"`` leaks through ``"Translator"``; ``"CSV"`` through ``"Comma Separated Values"``;
    ``"Comma Separated Values"`` through ``"(CSV)"``; ``"高度"`` through ``"height"``. Only the answer's
    content words count (not "the").
    """
    if _BLANK_IN_PARENTHESES.search(question):
        return "a blank in parentheses, next to the phrase it abbreviates or expands"
    answer_words = [w for w in _words(correct) if w.lower() not in _SMALL and len(w) >= 2]
    question_words = _words(question)
    if not answer_words:
        return ""
    if len(answer_words) == 1 or len(correct) <= 30:  # a short answer: any of its words names it
        for word in answer_words:
            if re.fullmatch(r"[\u3400-\u9fff]+", word):
                if word in question:
                    return word
                english = _english_of(word, question)
                if english:
                    return english
                continue
            if len(word) < 3 and not word.isupper():
                continue
            for other in question_words:
                if same_stem(word, other) and (len(word) >= 4 or word.lower() == other.lower()):
                    return other
    if _ACRONYM.match(correct.strip()) and expands(correct.strip().rstrip("s"), question):
        return f"the expansion of {correct.strip()}"
    initials = "".join(w[0] for w in answer_words if w[0].isalpha()).upper()
    if len(answer_words) >= 2 and re.search(rf"\b{re.escape(initials)}s?\b", question):
        return initials
    return ""


def expands(acronym: str, text: str) -> bool:
    """Whether ``text`` holds a run of words whose initials spell ``acronym`` ("Comma Separated Values")."""
    letters = acronym.upper()
    words = re.findall(r"[A-Za-z][A-Za-z-]*", text)
    for start in range(len(words)):
        i, n = 0, start
        while n < len(words) and i < len(letters):
            word = words[n]
            if word.lower() in _SMALL and word[0].upper() != letters[i]:
                n += 1
                continue
            if word[0].upper() != letters[i]:
                break
            i, n = i + 1, n + 1
        if i == len(letters) and len(letters) >= 2:
            return True
    return False


def length_giveaway(options: Sequence[str], answer: int) -> str:
    """The correct option stands out as the longest (1.5x the longest distractor and 10+ characters more)."""
    lengths = [len(o) for o in options]
    others = [n for i, n in enumerate(lengths) if i != answer]
    if not others:
        return ""
    longest = max(others)
    if lengths[answer] > 1.5 * longest and lengths[answer] - longest >= 10:
        return f"the correct option has {lengths[answer]} characters, the others at most {longest}"
    return ""


def option_kind(option: str) -> str:
    """What kind of thing an option is, as a reader sees it: a number, a name, a phrase or a word."""
    text = option.strip()
    if re.search(r"[\u3400-\u9fff]", text):
        return "cjk"
    if re.fullmatch(r"[\d.,%]+(?:\s*\w+)?", text):
        return "number"
    words = text.split()
    if len(words) > 3:
        return "phrase"
    # a sentence-case first word ("The broker") is no name; an acronym or "IoT" anywhere is
    if any(
        _ACRONYM.match(w) or (w[0].isupper() and (n or len(words) == 1 or not w[1:].islower()))
        for n, w in enumerate(words)
    ):
        return "name"
    return "term"


def kind_mismatch(options: Sequence[str], answer: int) -> str:
    """The correct option is of another kind than every distractor (a name among words, say)."""
    kinds = [option_kind(o) for o in options]
    mine = kinds[answer]
    others = [k for i, k in enumerate(kinds) if i != answer]
    if others and all(k != mine for k in others) and len(set(others)) == 1:
        return f"the answer is a {mine}, every distractor a {others[0]}"
    return ""


def filler_blank(answer: str) -> str:
    """A blanked answer that is a common word, an adverb, or an adjective or verb form, not a key term."""
    if answer.strip() in COMMON_ZH:
        return f"{answer!r} is a common word"
    words = answer.split()
    if len(words) != 1 or not re.fullmatch(r"[A-Za-z-]+", answer):
        return ""  # phrases, names with digits, numbers and Chinese are judged elsewhere
    word = answer.lower()
    if word in COMMON or word.endswith("s") and word[:-1] in COMMON:
        return f"{answer!r} is a common word"
    if answer.isupper() or answer[:1].isupper() and not answer[1:].islower():
        return ""  # acronyms and names such as "IoT"
    if re.search(r"(?:ly|ed|ful|ous|ive|able|ible|less)$", word):
        return f"{answer!r} is not a noun"
    return ""


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def also_right(question: str, options: Sequence[str], answer: int, source: str, explanation: str = "") -> str:
    """A wrong option that is right too, by the item's own source or explanation.

    Right too: a question with no blank whose options are a list the source passage gives (two wrong
    options or more stand in one sentence, or one bulleted list, with the correct one: "Which is a
    consumer IoT device?" with three devices the passage lists together), or the explanation names
    a wrong option and not the correct one (the key marks the wrong option). A model asked for "wrong
    but plausible" options often copies the passage's list. A blank asks for the word of one
    sentence, so what the passage lists elsewhere does not fit it; and one other term beside the
    answer is no sign ("width" stands with "height" and is a fair distractor for it).
    """
    correct = options[answer]
    wrong = [o for i, o in enumerate(options) if i != answer]
    for statement in [] if _BLANKS.search(question) else _statements(source):
        if _says(statement, correct):
            listed = [o for o in wrong if _says(statement, o)]
            if len(listed) >= 2:
                return f"{', '.join(map(repr, listed))} stand with the answer in {statement[:80]!r}"
    if explanation and not _says(explanation, correct):
        backed = [o for o in wrong if _says(explanation, o)]
        if backed:
            return f"the explanation backs {backed[0]!r}, not the answer"
    return ""


def _statements(text: str) -> list[str]:
    """The passage's sentences, a bulleted or numbered list counting as one."""
    statements: list[str] = []
    prose: list[str] = []
    listed: list[str] = []
    for line in [*text.splitlines(), ""]:
        if _LIST_ITEM.match(line):
            statements.extend(split_sentences("\n".join(prose)))
            prose = []
            listed.append(_LIST_ITEM.sub("", line))
            continue
        if listed:
            statements.append(" ".join(listed))
            listed = []
        prose.append(line)
    statements.extend(split_sentences("\n".join(prose)))
    return statements


def _says(text: str, phrase: str) -> bool:
    """Whether ``text`` holds ``phrase`` as whole words (any case; a Chinese phrase anywhere)."""
    phrase = " ".join(phrase.split()).strip(" .。")
    if not phrase:
        return False
    if CJK.search(phrase):
        return phrase in text
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", " ".join(text.split()), re.I) is not None


def longest_share(items: Sequence[tuple[Sequence[str], int]]) -> float:
    """Share of items whose correct option is strictly the longest (chance is about 1 / options)."""
    if not items:
        return 0.0
    hits = 0
    for options, answer in items:
        lengths = [len(o) for i, o in enumerate(options) if i != answer]
        hits += bool(lengths) and len(options[answer]) > max(lengths)
    return hits / len(items)


def chance_share(items: Sequence[tuple[Sequence[str], int]]) -> float:
    """The share :func:`longest_share` would have by chance: the mean of 1 / options."""
    return statistics.fmean(1 / len(options) for options, _ in items) if items else 0.0
