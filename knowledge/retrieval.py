"""Retrievers: dense (Chroma), keyword (BM25) and the two fused by reciprocal rank.

Each returns :class:`ScoredChunk` lists, best first, seeing only chunks of live lesson versions
and only what the :class:`SearchFilter` admits (premium filtering happens before any ranking).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from knowledge.crosslingual import translate_query
from knowledge.definitions import asked_abbreviation, expansion_sentence
from knowledge.embedders import Embedder
from knowledge.fusion import Ranking, Rankings, fuse_chunks, lesson_scores
from knowledge.live import LiveRecords
from knowledge.models import Chunk, ScoredChunk, SearchFilter
from knowledge.query_translation import QueryTranslator
from knowledge.text import detect_language

__all__ = ["DenseRetriever", "FusedRetriever", "KeywordRetriever", "LiveRecords", "Retriever"]

_UNFILTERED_TRIES = 2
"""Unfiltered nearest-id queries (each 4x deeper) before a narrow filter goes into the index query."""


class Retriever(Protocol):
    """Finds the passages most likely to answer a question."""

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best chunks for ``query``, best first."""
        ...


class DenseRetriever:
    """Nearest neighbours of the question's embedding in the vector index.

    With the paired embedder, an English question meets English passages through MiniLM (the stronger
    English model) and passages in other languages through USE, as two rankings; any other question
    is one USE ranking over every language, whose similarities compare across languages (a Chinese
    question's best English passage scores as high as its best Chinese one). Across languages USE's
    similarities still run lower than within one, so where the catalogue has lessons that only
    other languages hold, those lessons are also ranked on their own, as a vote in the order of
    lessons (:meth:`rankings`).
    """

    def __init__(self, records: LiveRecords, embedder: Embedder, cross_lingual_weight: float = 1.0) -> None:
        self.records = records
        self.embedder = embedder
        self.cross_lingual_weight = cross_lingual_weight

    def ranked_lists(
        self, query: str, depth: int, search_filter: SearchFilter | None = None
    ) -> list[Ranking]:
        """The passage rankings to fuse, each with a weight per chunk."""
        return self.rankings(query, depth, search_filter).passages

    def rankings(
        self, query: str, depth: int, search_filter: SearchFilter | None = None, reach_vote: bool = True
    ) -> Rankings:
        """The passage rankings, and for a question that is not English, the lessons it lacks as a vote.

        The vote (``reach_vote``) orders lessons only, like the whole-lesson keyword ranking: whether
        the material answers is judged on the passage rankings, where an uncovered question's best
        English passage would otherwise always stand first in a ranking of its own.
        """
        self.records.refresh()
        parts = getattr(self.embedder, "embed_query_parts", None)
        everything = self.records.narrowing(search_filter)
        if parts is None:
            return Rankings(
                [_weighted(self._query(self.embedder.embed_query(query), depth, everything), 1.0)]
            )
        language = detect_language(query)
        # The reach ranking is only for lessons in another language with no copy in the question's.
        # Where every lesson has one (a course and its translation), it is not run at all.
        others = tuple(self.records.untranslated_languages(language, search_filter))
        held = self.records.languages(search_filter)
        english = language == "en" and "en" in held
        vectors = parts(query, ["minilm" if english else "use", *(["use"] if others else [])])
        base = search_filter or SearchFilter()
        rankings = Rankings()
        if english:
            rankings.passages.append(
                _weighted(self._query(vectors["minilm"], depth, replace(base, languages=("en",))), 1.0)
            )
        else:
            rankings.passages.append(_weighted(self._query(vectors["use"], depth, everything), 1.0))
        if others and language in held and (english or reach_vote):
            hits = self._query(vectors["use"], depth, replace(base, languages=others))
            # This ranking is for reach: a lesson with a copy in the question's language was judged by
            # the first ranking already, and a second opinion of its translation would only blur it.
            hits = [h for h in hits if not self.records.has_copy_in(h.chunk, language, search_filter)]
            (rankings.passages if english else rankings.lessons).append(
                _weighted(hits, self.cross_lingual_weight)
            )
        return rankings

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best live chunks (the languages' rankings fused by reciprocal rank)."""
        lists = self.ranked_lists(query, max(k, 10), search_filter)
        if len(lists) == 1:
            return lists[0][0][:k]
        return fuse_chunks(lists)[:k]

    def _query(self, vector: Any, k: int, search_filter: SearchFilter | None) -> list[ScoredChunk]:
        # The nearest ids alone are several times faster to get than filtered records with their
        # texts; the live records in memory give the chunks and apply the filter. Records of a version
        # being written (or left by a crash) are skipped. Ask for more until k are found, the index
        # has no more to give, or the filter is so narrow that the index had better apply it.
        wanted = 2 * (k + 10)
        for _ in range(_UNFILTERED_TRIES):
            nearest = self.records.index.nearest(vector, wanted)
            found = [
                (chunk, s)
                for rid, s in nearest
                if (chunk := self.records.chunk(rid)) is not None
                and (search_filter is None or search_filter.admits(chunk))
            ]
            if len(found) >= k or len(nearest) < wanted:
                return [ScoredChunk(c, s, dense_score=s) for c, s in found[:k]]
            wanted *= 4
        wanted = k + 10
        while True:
            hits = self.records.index.query(vector, wanted, search_filter)
            live = [(r.chunk, s) for r, s in hits if self.records.is_live(r.chunk, r.version)]
            if len(live) >= k or len(hits) < wanted:
                return [ScoredChunk(c, s, dense_score=s) for c, s in live[:k]]
            wanted *= 2


class KeywordRetriever:
    """BM25 over live chunks, with Chinese text segmented by jieba."""

    def __init__(self, records: LiveRecords) -> None:
        self.records = records

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best BM25 matches (raw BM25 as the score)."""
        hits = self.records.keyword.search(query, k, search_filter)
        return [ScoredChunk(c, s, keyword_score=s) for c, s in hits]


class FusedRetriever:
    """Dense and keyword rankings fused at the level of lessons, then passages from the best lessons.

    Learners ask about lessons, and a lesson that answers in several passages is better evidence than
    a sibling with one lucky sentence, so every ranking gives each lesson credit for its best few chunks
    (reciprocal rank); pages of no lesson (module overviews) compete at a discount. BM25 over whole
    lessons votes too, at ``lesson_keyword_weight``: a lesson that uses the question's words throughout
    gains on a sibling with one matching passage. It orders lessons only; passages keep the passage
    rankings' scores. Lessons that only another language holds get such votes only through the model's
    translation, so without a translator none vote where those lessons are in reach. For a question
    that is not English, without a translator, USE's ranking of such lessons votes in the same way
    (:meth:`DenseRetriever.rankings`). A lesson and its translation pool their evidence, and the copy
    in the question's language is the one cited, when the learner may see it. Passages then come best
    lesson first.

    When the question's language differs from a passage's, keyword matches mean little (a Chinese
    question shares few words with an English lesson), so the keyword side's weight drops to
    ``cross_lingual_keyword_weight`` for such passages.

    With a ``translator`` (the answer model), a question is also read in each language that holds
    lessons with no copy in its own, and that reading's rankings vote at ``translation_weight``: as a
    second question of equal standing, its dense and keyword votes together count as much as the
    original's and the dictionary's.

    Example:
        >>> FusedRetriever(dense, keyword).retrieve("what does a sensor do?", k=5)
    """

    def __init__(
        self,
        dense: DenseRetriever,
        keyword: KeywordRetriever,
        rrf_k: int = 60,
        depth: int = 50,
        keyword_weight: float = 1.0,
        lesson_keyword_weight: float = 1.0,
        cross_lingual_keyword_weight: float = 0.3,
        overview_weight: float = 0.5,
        passages_per_lesson: int = 4,
        translated_keyword_weight: float = 1.0,
        translator: QueryTranslator | None = None,
        translation_weight: float = 2.0,
    ) -> None:
        self.dense = dense
        self.keyword = keyword
        self.rrf_k = rrf_k
        self.depth = depth
        self.keyword_weight = keyword_weight
        self.lesson_keyword_weight = lesson_keyword_weight
        self.cross_lingual_keyword_weight = cross_lingual_keyword_weight
        self.overview_weight = overview_weight
        self.passages_per_lesson = passages_per_lesson
        self.translated_keyword_weight = translated_keyword_weight
        self.translator = translator
        self.translation_weight = translation_weight

    def without_translation(self) -> FusedRetriever:
        """This retriever without the answer model's translations (for checks that need no model)."""
        plain = copy.copy(self)
        plain.translator = None
        return plain

    def retrieve(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best chunks: the best lesson's best passages first; dense and keyword scores kept."""
        return self.retrieve_judged(query, k, search_filter)[0]

    def retrieve_judged(
        self, query: str, k: int = 5, search_filter: SearchFilter | None = None
    ) -> tuple[list[ScoredChunk], list[ScoredChunk]]:
        """The ``k`` best chunks as :meth:`retrieve` orders them, and as the passage rankings alone do.

        Whether the material holds an answer is judged on the second (:mod:`knowledge.grounding`):
        whole-lesson votes tell which lesson to answer from, but a lesson that uses an uncovered
        question's words here and there is no evidence that it answers it.
        """
        rankings = self.ranked_lists(query, max(self.depth, k), search_filter)
        fused = fuse_chunks(rankings.passages, self.rrf_k)
        voted = self._passages(query, fused, rankings.passages + rankings.lessons, k, search_filter)
        if not rankings.lessons:
            return voted, voted
        return voted, self._passages(query, fused, rankings.passages, k, search_filter)

    def _passages(
        self,
        query: str,
        fused: list[ScoredChunk],
        lists: list[Ranking],
        k: int,
        search_filter: SearchFilter | None,
    ) -> list[ScoredChunk]:
        """The ``k`` best of ``fused``: passages of the lessons ``lists`` rank best first."""
        ranking = self._ranking(query, lists)
        definition = self._definition(query, ranking, search_filter)
        if definition is not None:
            ranking.insert(0, self._key(definition.chunk))
            fused = [definition, *(h for h in fused if h.chunk.chunk_id != definition.chunk.chunk_id)]
        order: dict[tuple[str, str], int] = {}
        for n, key in enumerate(ranking):
            order.setdefault(key, n)
        taken: dict[tuple[str, str], int] = {}
        first, rest = [], []
        for hit in sorted(fused, key=lambda h: order.get(self._key(h.chunk), len(order))):
            key = self._key(hit.chunk)
            taken[key] = taken.get(key, 0) + 1
            (first if taken[key] <= self.passages_per_lesson else rest).append(hit)
        rest.sort(key=lambda h: -h.score)
        return (first + rest)[:k]

    def lessons(
        self, query: str, n: int = 5, search_filter: SearchFilter | None = None
    ) -> list[tuple[str, str]]:
        """The ``n`` lessons that best answer ``query``, as ``(course_id, lesson_id)``."""
        rankings = self.ranked_lists(query, self.depth, search_filter)
        ranking = self._ranking(query, rankings.passages + rankings.lessons)
        definition = self._definition(query, ranking, search_filter)
        if definition is not None:
            ranking.insert(0, self._key(definition.chunk))
        return list(dict.fromkeys(key for key in ranking if key[1]))[:n]

    def _definition(
        self, query: str, ranking: list[tuple[str, str]], search_filter: SearchFilter | None
    ) -> ScoredChunk | None:
        """For "what does ABBR stand for?", the passage that spells ABBR out (else ``None``).

        A passage whose text spells it out, or the first passage of a section whose heading does. Of
        those, one in the question's language wins, then the one whose lesson ranks best for the
        question, then a passage whose own text holds the expansion, then the earliest.
        """
        abbreviation = asked_abbreviation(query)
        if abbreviation is None:
            return None
        language = detect_language(query)
        place = {key: n for n, key in reversed(list(enumerate(ranking)))}
        best: tuple[tuple, ScoredChunk] | None = None
        for hit in self.keyword.retrieve(abbreviation, 500, search_filter):
            chunk = hit.chunk
            in_text = expansion_sentence(chunk.text, abbreviation) is not None
            if not in_text and not expansion_sentence(chunk.heading.split(" > ")[-1], abbreviation):
                continue
            rank = (
                chunk.language != language,
                place.get(self._key(chunk), len(place)),
                not in_text,
                chunk.position,
            )
            if best is None or rank < best[0]:
                best = (rank, hit)
        return best[1] if best else None

    def ranked_lists(self, query: str, depth: int, search_filter: SearchFilter | None = None) -> Rankings:
        """Every ranking this retriever fuses, each with a weight per hit."""
        language = detect_language(query)
        rankings = self._own_lists(query, language, depth, search_filter)
        if language != "en" and self.translated_keyword_weight:
            lessons = self._whole_lessons_vote(language, search_filter)
            rankings.extend(self._translated(query, depth, search_filter, lessons))
        if self.translator is not None:
            for other in self.dense.records.untranslated_languages(language, search_filter):
                rankings.extend(self._model_translated(query, other, depth, search_filter))
        return rankings

    def _whole_lessons_vote(self, language: str, search_filter: SearchFilter | None) -> bool:
        """Whether whole lessons vote for a question in ``language`` (asked after a catalogue refresh).

        Lessons only another language holds get such votes only through the model's translation;
        without it, the question's own language would have the only ones, so none are cast.
        """
        records = self.dense.records
        return self.translator is not None or not records.untranslated_languages(language, search_filter)

    def _own_lists(
        self, query: str, language: str, depth: int, search_filter: SearchFilter | None
    ) -> Rankings:
        """The dense rankings and the keyword rankings (of passages, of lessons) of ``query`` as written."""
        records = self.keyword.records
        # refreshes the catalogue; the model's translation, where there is one, reaches the lessons
        # of other languages in their own language, so USE's vote for them would count them twice
        dense = self.dense.rankings(query, depth, search_filter, reach_vote=self.translator is None)
        passages, lessons = dense.passages, dense.lessons
        indexes = [(records.keyword, self.keyword_weight, passages)]
        if self._whole_lessons_vote(language, search_filter):
            indexes.append((records.lesson_keyword, self.lesson_keyword_weight, lessons))
        for index, weight, found in indexes:
            hits = [ScoredChunk(c, s, keyword_score=s) for c, s in index.search(query, depth, search_filter)]
            # A keyword match counts as much as it covers the question: a chunk that shares one common
            # word with it (all a Chinese question finds in a Chinese course that lacks the lesson) must
            # not outvote the embedding's match in another language.
            shares = index.coverage(query, [h.chunk for h in hits])
            weights = [
                share * (weight if h.chunk.language == language else self.cross_lingual_keyword_weight)
                for h, share in zip(hits, shares, strict=True)
            ]
            found.append((hits, weights))
        return Rankings(passages, lessons)

    def _model_translated(
        self, query: str, language: str, depth: int, search_filter: SearchFilter | None
    ) -> Rankings:
        """The rankings of the answer model's translation of ``query`` into ``language``.

        They only vote: their hits carry no similarity scores, so the evidence that decides whether to
        answer (:mod:`knowledge.grounding`) stays measured on the question the learner wrote.
        """
        assert self.translator is not None
        translated = self.translator.translate(query, language)
        if not translated:
            return Rankings()
        own = self._own_lists(translated, language, depth, search_filter)

        def votes(lists: list[Ranking]) -> list[Ranking]:
            scale = self.translation_weight
            return [
                ([ScoredChunk(h.chunk, h.score) for h in hits], [w * scale for w in ws]) for hits, ws in lists
            ]

        return Rankings(votes(own.passages), votes(own.lessons))

    def _translated(
        self, query: str, depth: int, search_filter: SearchFilter | None, lessons: bool
    ) -> Rankings:
        """Keyword matches of the question's dictionary translation in English passages (and lessons)."""
        base = search_filter or SearchFilter()
        records = self.keyword.records
        if "en" not in records.languages(search_filter):
            return Rankings()
        english = replace(base, languages=("en",))
        groups = translate_query(query)
        rankings = Rankings()
        indexes = [(records.keyword, rankings.passages)]
        if lessons:
            indexes.append((records.lesson_keyword, rankings.lessons))
        for index, found in indexes:
            matches = index.search_groups(groups, depth, english)
            hits = [ScoredChunk(c, s, keyword_score=s) for c, s in matches]
            found.append((hits, [self.translated_keyword_weight] * len(hits)))
        return rankings

    def _key(self, chunk: Chunk) -> tuple[str, str]:
        # A page of no lesson stands for itself (each module overview is its own candidate).
        return (chunk.course_id, chunk.lesson_id or f"\0{chunk.source_path}")

    def _ranking(self, query: str, lists: Sequence[tuple[Sequence[ScoredChunk], Sequence[float]]]) -> list:
        language = detect_language(query)
        copies = self.dense.records.translations()
        discounted = [
            (
                hits,
                [
                    w * (1.0 if h.chunk.lesson_id else self.overview_weight)
                    for h, w in zip(hits, ws, strict=True)
                ],
            )
            for hits, ws in lists
        ]
        scored = lesson_scores(discounted, key=self._key)
        # Pool a lesson's evidence with its translations'; cite the copy in the learner's language.
        groups: dict[tuple[str, str], float] = {}
        members: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for key, score in scored.items():
            group = copies.get(key, key)
            groups[group] = groups.get(group, 0.0) + score
            members.setdefault(group, []).append(key)
        admitted = {self._key(h.chunk): h.chunk.language for hits, _ in lists for h in hits}
        ranking = []
        for group in sorted(groups, key=lambda g: -groups[g]):
            found = members[group]
            mine = [key for key in found if admitted.get(key) == language]
            ranking.append(max(mine or found, key=lambda key: scored[key]))
        return ranking


def _weighted(hits: list[ScoredChunk], weight: float) -> Ranking:
    return hits, [weight] * len(hits)
