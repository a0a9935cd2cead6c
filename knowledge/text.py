"""Text helpers every part of the knowledge package shares: language, chat noise, keyword tokens."""

from __future__ import annotations

import logging
import re

import jieba

CJK = re.compile(r"[\u3400-\u9fff]")
"""One CJK ideograph (the unified block and extension A)."""


def detect_language(text: str) -> str:
    """``zh`` when a sizeable share of the letters are CJK ideographs, else ``en``.

    Example:
        >>> detect_language("传感器是什么？"), detect_language("What is a sensor?")
        ('zh', 'en')
    """
    sample = text[:20000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    return "zh" if len(CJK.findall(sample)) / letters > 0.15 else "en"


# -- noise in chat questions --------------------------------------------------------------------

_NOISE_PATTERNS = [
    re.compile(r"https?://\S+|www\.\S+"),  # links
    re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b"),  # e-mail addresses
    re.compile(r"@[A-Za-z][\w.-]{0,30}|@[\u3400-\u9fff]{2,3}"),  # mentions
    # ticket numbers: INC-4471, or a shorter one named as such ("JIRA IOT-312"); RS-485 stays
    re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d{4,}\b"),
    re.compile(r"(?i:ticket|jira|ref|req|issue|case|工单号?|单号|编号)\W{0,3}[A-Z][A-Z0-9]{1,9}-\d+\b"),
    re.compile(r"#[A-Z]*-?\d{2,}\b"),  # issue numbers
    re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]"),  # emoji and their joiners
    # a name signing off: "- Tom", "— Lily, REQ-0912", "Priya here", "来自 Lily", "thanks, Bob"
    re.compile(r"(?:^|\s)[-—–]{1,2}\s*(?:来自\s*)?[A-Z][a-z]+\b"),
    re.compile(r"\b[A-Z][a-z]+ (?:here|from (?:the )?\w+(?: team)?)\b"),
    re.compile(r"\b(?:from|for|by) [A-Z][a-z]+\b(?=\s*[)\-—–:,]|\s*$)"),
    re.compile(r"(?:来自|发自)\s*\S{1,12}\s*$"),
    re.compile(r"\b(?:thanks|thank you|cheers|regards)[,!.]?\s+[A-Z][a-z]+\b", re.I),
]
_CHAT_FILLERS = frozenset(
    """hi hey hello thanks thank thx ty pls please cheers regards ticket jira fyi cc asap ping colleague
    你好 您好 谢谢 谢谢啦 多谢 感谢 麻烦 帮忙 看下 工单 同事 请问""".split()
)
_LONGEST_FIRST = sorted(_CHAT_FILLERS, key=len, reverse=True)
_FILLER_RUN = re.compile(r"\b(?:" + "|".join(w for w in _LONGEST_FIRST if w.isascii()) + r")\b[,!.]*", re.I)
_CJK_FILLER_RUN = re.compile("|".join(w for w in _LONGEST_FIRST if not w.isascii()))


_AFTER_NAME = re.compile(r"^[\s：:，,！!（(、]")
_NAME_TAIL = re.compile(r"^\s*(?:[（(][^）)]{0,30}[）)])?\s*[：:，,！!、]?\s*")


def _leading_chinese_name(text: str) -> str:
    """``text`` without an opening Chinese personal name that stands apart ("张伟：…", "陈老师 ！…").

    jieba's part-of-speech tagger marks personal names (``nr``); a name followed by a word is kept,
    since it may be a term's first part ("欧姆定律", Ohm's law).
    """
    start = text.lstrip()
    if not start or not CJK.match(start):
        return text
    import jieba.posseg

    first = next(iter(jieba.posseg.lcut(start[:16])), None)
    if first is None or first.flag != "nr" or len(first.word) < 2:
        return text
    rest = start[len(first.word) :]
    if not _AFTER_NAME.match(rest):
        return text
    return _NAME_TAIL.sub("", rest)  # with its aside and colon: "张伟（工单 SR-1）：…"


def strip_noise(question: str) -> str:
    """The question without chat noise: links, mentions, ticket numbers, emoji, greetings, names, sign-offs.

    Such words say nothing about what is asked, but a course never uses them, so left in they make a
    covered question look uncovered ("… my ticket is INC-4471").

    Example:
        >>> strip_noise("Hey @priya, what is MQTT? INC-4471 thanks! 🙏")
        'what is MQTT?'
    """
    text = question
    for pattern in _NOISE_PATTERNS:
        text = pattern.sub(" ", text)
    text = _FILLER_RUN.sub(" ", text)
    text = _CJK_FILLER_RUN.sub(" ", _leading_chinese_name(text))
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"^[\s,.;:!?，。！？、—–-]+|[\s,;:—–-]+$", "", text)


# -- keyword tokens --------------------------------------------------------------------------

jieba.setLogLevel(logging.WARNING)
_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[\u3400-\u9fff]+")
STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too very s t can
    will just don should now is are was were be been being have has had having do does did doing i me my we
    our you your he him his she her it its they them their what which who whom this that these those am
    would could also may might must shall
    的 了 是 在 和 与 或 也 都 就 而 及 以 之 其 这 那 个 们 吗 呢 吧 啊
    什么 怎么 如何 为什么 哪些 哪个 一个 可以
    能 会 要 把 被 对 从 向 到 中 上 下 为 有 没有 不 我 你 他 她 它 我们 你们 他们
    下列 以下 哪 哪一项 哪一个 哪种 哪项 哪里 怎样 怎么样 是否 还是 应该 应当 需要 正确 错误 选项 请问 关于
    一下 多少 几个 时候 时 后 前 最 更 一项 一种 一些 每个 多个""".split()
)


def _stem(word: str) -> str:
    """A light English suffix stripper: enough to match plural and -ing/-ed forms."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)] + replacement
            break
    # "measure", "measures", "measured" and "measuring" all become "measur".
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens for BM25; Chinese runs are segmented with jieba (search mode)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if CJK.match(word):
            tokens.extend(w for w in jieba.lcut_for_search(word) if w not in STOPWORDS)
        elif word not in STOPWORDS:
            tokens.append(_stem(word))
    return tokens
