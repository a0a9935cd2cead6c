"""The recommender over the records: a learner's state from their profile, the fitted signals, ``/next``.

:func:`recommender.recommend.rank` is pure; :class:`Recommender` builds its inputs from the learner
records (:class:`recommender.records.LearnerRecords`, which the store satisfies) and refits the
collaborative model (with its learned blend) when completions grew. It also serves the content tags
a catalogue view shows (a course's topics and levels, a lesson's keywords and level), as data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import numpy as np

from knowledge.embedders import Embedder
from recommender.catalogue import Catalogue
from recommender.collaborative import Collaborative, Key
from recommender.profile import Profile, build_profile
from recommender.recommend import (
    LearnerState,
    Recommendation,
    fit_collaborative,
    rank,
)
from recommender.records import CourseRecord, LearnerRecords
from recommender.risk import RiskModel
from recommender.tags import ContentTags, LessonTags
from recommender.topics import CourseTopics, topics_by_course

log = logging.getLogger(__name__)
REFIT_SECONDS = 3600


class Recommender:
    """Recommendations for learners in the records.

    Args:
        store: The learner records (the store satisfies them).
        tags: The lessons' content tags.
        embedder: Returns the index's embedder (to match a learner's questions to lessons).

    Example:
        >>> recommender = Recommender(store, ContentTags(store, app.lesson_chunks, lambda: app.embedder))
        >>> for rec in recommender.recommend(learner_id, 3, now):
        ...     print(rec.title, rec.reason)
    """

    def __init__(
        self, store: LearnerRecords, tags: ContentTags, embedder: Callable[[], Embedder] | None = None
    ) -> None:
        self.store = store
        self.tags = tags
        self.embedder = embedder
        self._collab: tuple[float, int, Collaborative] | None = None
        self._model: RiskModel | None = None

    @property
    def model(self) -> RiskModel:
        """The packaged at-risk model (loaded once)."""
        if self._model is None:
            self._model = RiskModel.load()
        return self._model

    def forget(self) -> None:
        """Drop the fitted collaborative model (it holds learner ids); the next call refits it."""
        self._collab = None

    def collaborative(self) -> Collaborative:
        """The collaborative signal, refitted hourly or when completions grew by 5%."""
        cached = self._collab
        if cached and time.monotonic() - cached[0] < REFIT_SECONDS:
            if self.store.done_count() <= cached[1] * 1.05:
                return cached[2]
        events = self.store.done_events()
        histories: dict[int, list[Key]] = {}
        for learner, course, lesson, _ in events:
            histories.setdefault(learner, []).append((course, lesson))
        collab = fit_collaborative(Catalogue.from_store(self.store), histories, self.store.enrolled_courses())
        self._collab = (time.monotonic(), len(events), collab)
        return collab

    def state(self, profile: Profile, now: datetime, tags: Mapping[Key, LessonTags]) -> LearnerState:
        """The ranking inputs of a learner, from their profile."""
        catalogue_courses = self.store.courses()
        visible = {
            c.course_id for c in catalogue_courses if self.store.may_see_course(profile.learner_id, c, now)
        }
        done: dict[str, set[str]] = {}
        for (course_id, lesson_id), s in profile.lessons.items():
            if s.done:
                done.setdefault(course_id, set()).add(lesson_id)
        history = [
            (c, lesson)
            for c, lesson, _ in sorted(
                ((c, lid, at) for (lrn, c, lid, at) in self.store.done_events([profile.learner_id])),
                key=lambda r: r[2],
            )
        ]
        mastery = {
            k: (s.mastery, s.answers, s.correct) for k, s in profile.lessons.items() if s.mastery is not None
        }
        similarity, asked = self._question_match(profile, tags)
        interests = set(profile.interests({k: t.keywords for k, t in tags.items()}))
        topics = {
            key: next(w for w in t.keywords if w in interests)
            for key, t in tags.items()
            if interests.intersection(t.keywords)
        }
        return LearnerState(
            done=done,
            history=history,
            mastery=mastery,
            recent_course=profile.recent_course,
            enrolled=set(profile.enrolled),
            visible=visible,
            similarity=similarity,
            asked=asked,
            topics=topics,
            language=self._language(profile, {c.course_id: c for c in catalogue_courses}),
        )

    def _language(self, profile: Profile, courses: Mapping[str, CourseRecord]) -> str:
        """The learner's language: of their questions, else of the course they are on, else their setting."""
        if profile.languages:
            return profile.languages[0]
        course = courses.get(profile.recent_course or "") or next(
            (courses[c] for c in profile.enrolled if c in courses), None
        )
        if course and course.language:
            return course.language
        return self.store.learner_language(profile.learner_id)

    def _question_match(
        self, profile: Profile, tags: Mapping[Key, LessonTags]
    ) -> tuple[dict[Key, float], dict[Key, tuple[str, int]]]:
        questions = profile.questions[-5:]
        if not questions:
            return {}, {}
        asked: dict[Key, tuple[str, int]] = {}
        lowered = [q.lower() for q in questions]
        for key, t in tags.items():
            counts = [(w, sum(w in q for q in lowered)) for w in t.keywords]
            word, count = max(counts, key=lambda wc: wc[1], default=("", 0))
            if count:
                asked[key] = (word, count)
        similarity: dict[Key, float] = {}
        vectors = {k: t.vector for k, t in tags.items() if t.vector is not None}
        if self.embedder is not None and vectors:
            try:
                embedded = np.asarray(self.embedder().embed_documents(questions), dtype=np.float32)
            except Exception:
                log.exception("could not embed the learner's questions")
                return similarity, asked
            query = embedded.mean(axis=0)
            query /= max(float(np.linalg.norm(query)), 1e-9)
            for key, vector in vectors.items():
                if len(vector) == len(query):
                    similarity[key] = max(0.0, float(vector @ query))
        for key in asked:
            similarity[key] = max(similarity.get(key, 0.0), 0.5)
        return similarity, asked

    def recommend(self, learner_id: int, n: int, now: datetime) -> list[Recommendation]:
        """The learner's next steps, best first, each with a reason."""
        # tags sharpen the ranking; without them it still stands (and pushes still go)
        self._ensure_tags()
        tags = self.tags.tags()
        profile = build_profile(self.store, learner_id, now, self.model)
        state = self.state(profile, now, tags)
        return rank(state, Catalogue.from_store(self.store), self.collaborative(), n)

    def course_topics(self) -> dict[str, CourseTopics]:
        """Each tagged course's central topics and the levels of its lessons (what ``/courses`` shows).

        Tags missing for a lesson's current version are computed first. Tags are extra: when that
        fails, the failure is logged and there are none (``{}``).
        """
        return topics_by_course(self.tags.tags()) if self._ensure_tags() else {}

    def lesson_topics(self, course_id: str, lesson_id: str) -> LessonTags | None:
        """A lesson's keywords and level (its first page shows them), computed first where missing.

        ``None`` when the lesson has no tags, or they could not be computed (logged).
        """
        return self.tags.tags(course_id).get((course_id, lesson_id)) if self._ensure_tags() else None

    def _ensure_tags(self) -> bool:
        """Compute missing tags; ``False`` (logged) when that fails."""
        try:
            self.tags.ensure()
        except Exception:
            log.exception("could not compute lesson tags")
            return False
        return True
