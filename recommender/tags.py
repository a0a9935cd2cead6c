"""Content tags: each lesson's key phrases and difficulty, and each course's central topics.

**Keywords** are the lesson's key phrases, in its language: English noun phrases and names found the
way the quiz drafter finds key terms (:mod:`knowledge.keyterms`: "IoT Hub", "soil moisture sensor",
"MQTT"; no verbs, adjectives or common words, so no "wait" or "equal"), Chinese nouns from jieba's
part-of-speech tags with adjacent nouns kept together (密码管理器, not 管理器). The 20 candidates with the
highest TF-IDF against the other lessons of the course are embedded with the index's own embedder and
ranked by how close each is to the lesson as a whole (cosine to the lesson's embedding), blended with
their TF-IDF, multi-word phrases and names first; the top 5 are kept, skipping any that shares all its
stems with a kept one ("hub event" after "event hub", "hub" after "IoT Hub").

**Difficulty** (0-1) comes from what the lesson asks of a reader, measured so that a lesson and its
translation score alike: the share of code among its blocks, the density of technical tokens
(acronyms, identifiers, version numbers) per paragraph, and its length in paragraphs. Its place in the
course plays no part. Once learners have answered enough questions on the lesson, their error rate
takes over.

**Course topics** (:func:`recommender.topics.course_topics`) are the keywords of the lessons
closest to the course as a whole (their embeddings' centroid), weighted by rank and by how many
lessons share them: what ``/courses`` shows.

Tags are computed after ingestion, not during it: :meth:`ContentTags.ensure` fills in lessons whose
stored tags belong to another version (the first ``/courses`` or lesson view after an ingest, or
``learnbot tags``), so ingestion is not slowed at all. The lesson embedding is kept with the tags and
used by the recommender to match a learner's questions to lessons.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.store import LessonRow, Store
from knowledge.embedders import Embedder
from knowledge.extractive import split_sentences
from knowledge.keyterms import NounEvidence, chinese_terms, english_terms
from knowledge.models import Chunk
from knowledge.quizrubric import same_stem
from knowledge.text import tokenize

KEYWORDS = 5
CANDIDATES = 20
MIN_ANSWERS = 10
"""Quiz answers on a lesson before learners' accuracy starts to set its difficulty."""
DOC_CHARS = 2000
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#-]*[A-Za-z0-9+#]|[A-Za-z]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_BREAK = re.compile(r"[.,;:!?()\[\]{}|\n]+|\s[-–—]\s")
_SENTENCE = re.compile(r"[.!?。！？]+")
_MARKUP = re.compile(r"```.*?```|`[^`]*`|!\[[^\]]*\]\([^)]*\)|\]\([^)]*\)|https?://\S+|<[^>]+>", re.S)
STOP = frozenset(
    """a about above after again all also an and any are as at be because been before being below between
    both but by can could did do does doing done down during each few for from further get gets got had has
    have having he her here hers him his how i if in into is it its itself just let like make makes many may
    me more most much must my no nor not now of off often on once one only or other our out over own per
    same see she should so some such than that the their them then there these they this those through to
    too two under until up upon us use used uses using very via was way we well were what when where which
    while who why will with would you your yours lesson lessons learn course quiz section example examples
    first next new need needs able know want also however thing things something really lot get called
    read image images link links see click note notes https http www com github md png jpg""".split()
)
GENERIC_HEADS = frozenset(
    "program programs app apps application applications code logic tool tools quickstart results language "
    "project projects file files step steps thing things way ways".split()
)
"""Heads of phrases that name no topic of their own."""
STOP_ZH = frozenset(
    "的 了 和 是 在 我们 你 我 他 它 这 那 一个 可以 使用 进行 以及 如果 因为 所以 "
    "就 也 都 而 与 或 及 等".split()
)


@dataclass(frozen=True)
class LessonTags:
    """A lesson's keywords, difficulty (0-1) and embedding."""

    course_id: str
    lesson_id: str
    keywords: list[str]
    difficulty: float
    vector: np.ndarray | None = None

    @property
    def level(self) -> str:
        """``introductory``, ``intermediate`` or ``advanced``."""
        return (
            "introductory"
            if self.difficulty < 0.34
            else "intermediate"
            if self.difficulty < 0.67
            else "advanced"
        )

    def label(self) -> str:
        """``Topics: a, b, c · intermediate`` for chat."""
        topics = f"Topics: {', '.join(self.keywords)} · " if self.keywords else ""
        return f"{topics}{self.level}"


def _sentences(text: str) -> list[str]:
    return [s for line in text.splitlines() for s in split_sentences(line) if s.strip()]


def is_chinese(text: str, language: str = "") -> bool:
    """Whether a text is read as Chinese (its course's language, or mostly Chinese characters)."""
    return language == "zh" or len(_CJK.findall(text)) > len(text) / 10


def terms(text: str, language: str, nouns: NounEvidence | None = None) -> list[str]:
    """Candidate key phrases of a text, in order of appearance (repeated as often as they occur).

    English: noun phrases of up to three words and names (``nouns`` says which words the course uses
    as nouns; by default the text itself); Chinese: nouns, adjacent nouns joined into one compound.
    """
    sentences = _sentences(_MARKUP.sub(" ", text))
    if is_chinese(text, language):
        found = [t.surface for s in sentences for t in chinese_terms(s)]
        return [w for w in found if w not in STOP_ZH]
    nouns = nouns or NounEvidence(sentences)
    result: list[str] = []
    for sentence in sentences:
        offset = len(sentence) - len(sentence.lstrip(" \"'“("))
        for term in english_terms(sentence, nouns):
            words = term.surface.split()
            if term.kind == "number" or len(words) > 1 and words[-1].lower() in GENERIC_HEADS:
                continue  # "timer program", "sensor app": the head says nothing about the topic
            if len(words) > 1 and term.start == offset and words[0][1:].islower() and words[0][0].isupper():
                continue  # "Trigger fruit", "Research sensors": a heading's first word starts a clause
            shown = term.surface if term.kind in ("name", "acronym") else term.surface.lower()
            if len(shown) >= 3 and not any(w.lower() in STOP for w in shown.split()):
                result.append(shown)
    return result


_FENCE = re.compile(r"```.*?```", re.S)
_TECHNICAL = re.compile(
    r"(?<![\w.])(?:[A-Z]{2,}[A-Za-z0-9]*|[A-Za-z]+\d+[A-Za-z0-9]*|[a-z]+[A-Z]\w*|\w+\(\)|\d+\.\d+\w*)(?![\w])"
)


def text_difficulty(text: str) -> float:
    """0-1 from what a lesson asks of its reader, alike for a lesson and its translation.

    Three things a translation keeps: the share of code blocks among the lesson's lines, the distinct
    technical tokens it uses (acronyms, identifiers, versions: written the same in every language) and
    its length in lines.
    """
    code = len(_FENCE.findall(text))
    prose = _FENCE.sub(" ", text)
    lines = [line for line in prose.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines and not code:
        return 0.5
    technical = len(set(_TECHNICAL.findall(_MARKUP.sub(" ", prose))))
    score = (
        0.5 * min(1.0, code / max(1, len(lines)) / 0.25)
        + 0.25 * min(1.0, technical / 40)
        + 0.25 * min(1.0, len(lines) / 300)
    )
    return float(round(score, 4))


def depths(lessons: Sequence[LessonRow]) -> dict[str, float]:
    """Each lesson's depth in the prerequisite graph, 0-1 (course order when none are declared)."""
    if not any(lesson.prerequisites for lesson in lessons):
        n = max(1, len(lessons) - 1)
        return {lesson.lesson_id: i / n for i, lesson in enumerate(lessons)}
    known = {lesson.lesson_id: lesson.prerequisites for lesson in lessons}
    depth: dict[str, int] = {}

    def walk(lesson_id: str, seen: frozenset[str] = frozenset()) -> int:
        if lesson_id not in depth:
            parents = [p for p in known.get(lesson_id, []) if p in known and p not in seen]
            depth[lesson_id] = 1 + max((walk(p, seen | {lesson_id}) for p in parents), default=-1)
        return depth[lesson_id]

    for lesson in lessons:
        walk(lesson.lesson_id)
    top = max(1, max(depth.values()))
    return {lid: d / top for lid, d in depth.items()}


def candidates(counts: Counter[str], document_frequency: Mapping[str, int], lessons: int) -> dict[str, float]:
    """The lesson's :data:`CANDIDATES` best terms by TF-IDF within the course, with their TF-IDF."""
    tfidf = {
        term: (1 + math.log(n)) * math.log((1 + lessons) / (1 + document_frequency.get(term, 0))) + 1e-6
        for term, n in counts.items()
        if n >= 2 or (" " in term or not term.islower()) and n >= 1
    }
    return {t: tfidf[t] for t in sorted(tfidf, key=lambda t: -tfidf[t])[:CANDIDATES]}


def _words(term: str) -> list[str]:
    words = tokenize(term) or [term]
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words]  # "cpus" is "cpu"


def near_duplicate(a: str, b: str) -> bool:
    """Every word of one term shares a stem with a word of the other ("CPUs" and "CPU", "hub event")."""
    x, y = _words(a), _words(b)

    def near(u: str, v: str) -> bool:
        return u == v or same_stem(u, v)

    return all(any(near(u, v) for v in y) for u in x) or all(any(near(v, u) for u in x) for v in y)


def choose(tfidf: Mapping[str, float], doc: np.ndarray, vectors: Mapping[str, np.ndarray]) -> list[str]:
    """The top :data:`KEYWORDS`: closeness to the lesson (unit vectors) blended with TF-IDF.

    Multi-word phrases and names come first; a term whose stems are all in a kept one (or the other
    way round) is a near-duplicate and is skipped.
    """
    if not tfidf:
        return []
    best = max(tfidf.values())
    score = {
        t: 0.6 * float(vectors[t] @ doc) + 0.4 * v / best + (0.15 if " " in t or not t.islower() else 0.0)
        for t, v in tfidf.items()
    }
    chosen: list[str] = []
    for term in sorted(tfidf, key=lambda t: -score[t]):
        if any(near_duplicate(term, kept) for kept in chosen):
            continue
        chosen.append(term)
        if len(chosen) == KEYWORDS:
            break
    return chosen


def keywords(
    embedder: Embedder, doc: str, counts: Counter[str], document_frequency: Mapping[str, int], lessons: int
) -> tuple[list[str], np.ndarray]:
    """One lesson's top keywords and its embedding (see the module docstring)."""
    tfidf = candidates(counts, document_frequency, lessons)
    doc_vector, *term_vectors = _unit(embedder.embed_documents([doc, *tfidf]))
    return choose(tfidf, doc_vector, dict(zip(tfidf, term_vectors, strict=True))), doc_vector


def _unit(vectors: object) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-9)


class ContentTags:
    """Computes, stores and serves lesson tags.

    Args:
        store: The store (tags live in ``lesson_tags``).
        lesson_chunks: ``(course_id, lesson_id) -> chunks`` of the live index.
        embedder: Returns the index's embedder (called only when something must be computed).
    """

    def __init__(
        self,
        store: Store,
        lesson_chunks: Callable[[str, str], Sequence[Chunk]] | None,
        embedder: Callable[[], Embedder] | None,
    ) -> None:
        self.store = store
        self.lesson_chunks = lesson_chunks
        self.embedder = embedder

    def ensure(self, course_id: str | None = None) -> int:
        """Compute tags of lessons whose stored tags are missing or of another version; returns how many."""
        if self.lesson_chunks is None or self.embedder is None:
            return 0
        stored = {(t["course_id"], t["lesson_id"]): t["version"] for t in self.store.lesson_tags(course_id)}
        courses = [c for c in self.store.courses() if course_id in (None, c["course_id"])]
        computed = 0
        for course in courses:
            lessons = self.store.lessons(course["course_id"])
            if all(stored.get((course["course_id"], row.lesson_id)) == row.version for row in lessons):
                continue
            computed += self._course(course, lessons, stored)
        return computed

    def _course(self, course: dict, lessons: list[LessonRow], stored: Mapping) -> int:
        assert self.lesson_chunks is not None and self.embedder is not None
        language = course.get("language") or "en"
        chunks = {row.lesson_id: self.lesson_chunks(course["course_id"], row.lesson_id) for row in lessons}
        texts = {lid: "\n".join(c.text for c in found) for lid, found in chunks.items()}
        # which words the whole course uses as nouns (one lesson alone says too little)
        nouns = NounEvidence(_sentences(_MARKUP.sub(" ", "\n".join(texts.values()))))
        counts = {}
        for row in lessons:  # the title counts three times and each heading twice: they name the topic
            headings = "\n".join(sorted({c.heading.replace(" > ", "\n") for c in chunks[row.lesson_id]}))
            emphasis = f"{row.title}\n{row.title}\n{row.title}\n{headings}\n{headings}"
            counts[row.lesson_id] = Counter(terms(f"{emphasis}\n{texts[row.lesson_id]}", language, nouns))
        frequency: Counter[str] = Counter(term for c in counts.values() for term in c)
        embedder = self.embedder()
        todo = [row for row in lessons if stored.get((course["course_id"], row.lesson_id)) != row.version]
        best = {row.lesson_id: candidates(counts[row.lesson_id], frequency, len(lessons)) for row in todo}
        # Long lesson texts and short terms are embedded apart (a batch is padded to its longest text),
        # each once per course.
        docs = (
            _unit(
                embedder.embed_documents(
                    [
                        f"{row.title}\n{' '.join(row.objectives)}\n{texts[row.lesson_id][:DOC_CHARS]}"
                        for row in todo
                    ]
                )
            )
            if todo
            else np.zeros((0, 1), dtype=np.float32)
        )
        terms_needed = sorted({t for found in best.values() for t in found})
        term_vectors = (
            dict(zip(terms_needed, _unit(embedder.embed_documents(terms_needed)), strict=True))
            if terms_needed
            else {}
        )
        rows = []
        for row, vector in zip(todo, docs, strict=True):
            rows.append(
                {
                    "course_id": course["course_id"],
                    "lesson_id": row.lesson_id,
                    "version": row.version,
                    "keywords": choose(best[row.lesson_id], vector, term_vectors),
                    "text_difficulty": text_difficulty(texts[row.lesson_id]),
                    "vector": vector.astype(np.float32).tobytes(),
                }
            )
        self.store.save_lesson_tags(rows)
        return len(rows)

    def tags(self, course_id: str | None = None) -> dict[tuple[str, str], LessonTags]:
        """Stored tags by (course, lesson); difficulty blended with quiz accuracy once there is enough.

        A lesson and its translations share one difficulty: the mean of their texts' and the pooled
        quiz answers of all their learners.
        """
        accuracy = self.store.lesson_accuracy()
        rows = self.store.lesson_tags()
        lessons: dict[str, set[str]] = {}
        for t in rows:
            lessons.setdefault(t["course_id"], set()).add(t["lesson_id"])
        group = translation_groups(self.store.courses(), lessons)
        texts: dict[tuple[str, str], list[float]] = {}
        answers: Counter[tuple[str, str]] = Counter()
        right: Counter[tuple[str, str]] = Counter()
        for t in rows:
            key = (t["course_id"], t["lesson_id"])
            shared = group.get(key, key)
            texts.setdefault(shared, []).append(t["text_difficulty"])
            answered, correct = accuracy.get(key, (0, 0))
            answers[shared] += answered
            right[shared] += correct
        result = {}
        for t in rows:
            if course_id not in (None, t["course_id"]):
                continue
            key = (t["course_id"], t["lesson_id"])
            shared = group.get(key, key)
            from_text = sum(texts[shared]) / len(texts[shared])
            result[key] = LessonTags(
                t["course_id"],
                t["lesson_id"],
                t["keywords"],
                blended_difficulty(from_text, answers[shared], right[shared]),
                np.frombuffer(t["vector"], dtype=np.float32) if t["vector"] else None,
            )
        return result


def translation_groups(
    courses: Sequence[Mapping], lessons: Mapping[str, set[str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """``(course, lesson) -> (course, lesson)`` of the first course of its translation group.

    Two courses translate each other when they are in different languages and share most lesson ids
    (a course repository's ``en`` and ``zh`` folders, or ``security-basics`` and ``security-basics-zh``).
    """
    language = {c["course_id"]: c.get("language") or "" for c in courses}
    ids = sorted(c for c in lessons if c in language)
    groups: dict[tuple[str, str], tuple[str, str]] = {}
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            shared = lessons[a] & lessons[b]
            if (
                language[a] == language[b]
                or len(shared) < 2
                or len(shared) < 0.5 * min(len(lessons[a]), len(lessons[b]))
            ):
                continue
            for lesson in shared:
                original = groups.get((a, lesson), (a, lesson))
                groups[(a, lesson)] = groups[(b, lesson)] = original
    return groups


def blended_difficulty(from_text: float, answers: int, right: int) -> float:
    """Difficulty from the text and graph until :data:`MIN_ANSWERS`, then more and more from error rates."""
    if answers < MIN_ANSWERS:
        return from_text
    weight = min(1.0, answers / (5 * MIN_ANSWERS))
    return (1 - weight) * from_text + weight * (1 - right / answers)
