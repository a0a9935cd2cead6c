"""Next-lesson recommendations with reasons.

Order of concerns:

1. **Only what the learner may see and is ready for.** Courses pass ``store.may_see_course``;
   a lesson is ready when every declared prerequisite (``course.toml``) is done, or, in a course
   without declared prerequisites, when it is at most one step past the furthest lesson done (lesson
   order; going back to a skipped lesson is fine). A locked premium course may appear once, marked
   as an upsell, with no lesson and no content.
2. **Review of weak prerequisites**: a finished lesson with low mastery that a ready lesson builds on.
3. **Continuing the current course** (first ready lesson in course order), then other courses.
4. **Other learners** (:mod:`recommender.collaborative`): next-step transitions, ALS or popularity.
5. **Content**: how close a lesson's embedding (:mod:`recommender.tags`) is to the learner's recent
   questions.
6. **Language**: a course that translates one the learner studies or finished is never suggested
   (unless they enrolled in it themselves); courses in the learner's language come first
   (:func:`translations`).

:func:`rank` is pure (the offline evaluation calls it); :class:`recommender.service.Recommender`
builds its inputs from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from recommender import blend
from recommender.catalogue import Catalogue
from recommender.collaborative import Collaborative, Key
from recommender.language import translations
from recommender.profile import Profile
from recommender.records import LessonRow

WEAK = 0.6
"""Mastery below which a finished prerequisite is suggested for review."""
W_REVIEW, W_CONTINUE, W_COLLAB, W_CONTENT = 2.0, 1.0, 2.0, 0.8
W_BLEND = 3.0
"""With learned weights (:mod:`recommender.blend`), a sure next step scores this much."""
W_START = 0.1
"""A course not begun, in the learner's language (one in another language scores a fifth of it).
With learned weights every lesson of the learner's own courses scores above it: the learner's
courses come first, then new ones."""
REFIT_SECONDS = 3600


@dataclass(frozen=True)
class Recommendation:
    """A lesson to study next, why, and how strongly (``locked``: a premium upsell without content)."""

    course_id: str
    lesson_id: str
    title: str
    score: float
    reason: str
    kind: str
    """``review``, ``continue``, ``next``, ``start`` or ``upsell``."""
    locked: bool = False


@dataclass
class LearnerState:
    """What :func:`rank` needs to know about one learner."""

    done: dict[str, set[str]]
    history: list[Key]
    """Lessons finished, in order."""
    mastery: dict[Key, tuple[float | None, int, int]] = field(default_factory=dict)
    """(mastery, answers, right answers) of lessons with evidence."""
    recent_course: str | None = None
    enrolled: set[str] = field(default_factory=set)
    visible: set[str] = field(default_factory=set)
    similarity: dict[Key, float] = field(default_factory=dict)
    """Closeness of each lesson to the learner's recent questions (0-1)."""
    asked: dict[Key, tuple[str, int]] = field(default_factory=dict)
    """Lesson -> (one of its keywords, how many recent questions used it)."""
    topics: dict[Key, str] = field(default_factory=dict)
    """Lesson -> one of its tags among the learner's interests (tags of what they finished or asked)."""
    language: str = ""
    """The learner's language (``""``: unknown): courses in it come first among new ones."""


def requirements(lessons: Sequence[LessonRow]) -> dict[str, list[str]]:
    """What each lesson builds on: declared prerequisites, or the lesson before it in course order."""
    if any(row.prerequisites for row in lessons):
        return {row.lesson_id: list(row.prerequisites) for row in lessons}
    return {row.lesson_id: [lessons[i - 1].lesson_id] if i else [] for i, row in enumerate(lessons)}


def ready(lessons: Sequence[LessonRow], done: set[str]) -> list[LessonRow]:
    """Lessons not done that the learner is ready for, in course order (see the module docstring)."""
    if any(row.prerequisites for row in lessons):
        return [r for r in lessons if r.lesson_id not in done and all(p in done for p in r.prerequisites)]
    frontier = max((i for i, r in enumerate(lessons) if r.lesson_id in done), default=-1)
    return [r for i, r in enumerate(lessons) if r.lesson_id not in done and i <= frontier + 1]


def options_after(catalogue: Catalogue, courses: Sequence[str], history: Sequence[Key]) -> list[blend.Option]:
    """The lessons a learner in ``courses`` was ready for after ``history`` (for fitting the blend)."""
    done: dict[str, set[str]] = {}
    for course_id, lesson_id in history:
        done.setdefault(course_id, set()).add(lesson_id)
    recent = history[-1][0] if history else None
    return [
        blend.Option((c, row.lesson_id), c == recent, position)
        for c in sorted(courses, key=lambda c: c != recent)
        if c in catalogue.lessons
        for position, row in enumerate(ready(catalogue.lessons[c], done.get(c, set())))
    ]


def fit_collaborative(
    catalogue: Catalogue,
    histories: Mapping[int, Sequence[Key]],
    courses: Mapping[int, Sequence[str]],
    similarity: Mapping[int, Mapping[Key, float]] | None = None,
) -> Collaborative:
    """The collaborative model, and the ranking's weights learned on a validation split.

    The weights explain each learner's last step with signals from a model fitted on every history
    *without* its last step (transitions, ALS factors, popularity), so no signal has seen the step it
    is weighed on; the model returned is then fitted on the whole histories.
    """
    collab = Collaborative.fit(histories)
    validation = Collaborative.fit(
        {lr: list(h[:-1]) if len(h) >= 2 else list(h) for lr, h in histories.items()}
    )
    collab.blend = blend.fit(
        validation,
        histories,
        lambda learner, history: options_after(catalogue, courses.get(learner, ()), history),
        similarity,
        leave_own_out=False,
    )
    return collab


def violates(catalogue: Catalogue, state: LearnerState, rec: Recommendation) -> bool:
    """Whether a recommendation breaks a prerequisite or an entitlement (must never happen)."""
    if rec.locked:
        return bool(rec.lesson_id) or rec.course_id in state.visible
    if rec.course_id not in state.visible:
        return True
    studied = state.enrolled | {cid for cid, done in state.done.items() if done}
    if rec.course_id not in studied and studied & translations(catalogue).get(rec.course_id, set()):
        return True  # the translation of a course the learner studies
    lessons = catalogue.lessons.get(rec.course_id, [])
    done = state.done.get(rec.course_id, set())
    if rec.kind == "review":
        return rec.lesson_id not in done
    return rec.lesson_id not in {r.lesson_id for r in ready(lessons, done)}


def weak_lessons(profile: Profile, titles: Mapping[Key, str], n: int = 2) -> list[tuple[Key, str, str]]:
    """The lessons worth a review: mastery below :data:`WEAK`, weakest first.

    Returns:
        Up to ``n`` (key, title, reason) triples, the reason a learner reads ("you scored 1/3").
    """
    weak = sorted(
        (s.mastery, key, s)
        for key, s in profile.lessons.items()
        if s.mastery is not None and s.mastery < WEAK and key in titles
    )
    return [
        (key, titles[key], f"you scored {s.correct}/{s.answers}" if s.answers else "your recall is fading")
        for _, key, s in weak[:n]
    ]


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def rank(
    state: LearnerState,
    catalogue: Catalogue,
    collab: Collaborative | None,
    n: int = 3,
    upsell: bool = True,
) -> list[Recommendation]:
    """The ``n`` best next steps for a learner, each with a reason (plus at most one upsell)."""
    titles = catalogue.titles()
    candidates: dict[Key, list[tuple[float, str, str]]] = {}  # key -> [(weight, reason, kind)]
    studied = state.enrolled | {cid for cid, done in state.done.items() if done}
    twins = translations(catalogue)
    hidden = {t for cid in studied for t in twins.get(cid, ()) if t not in studied}
    courses = [cid for cid in catalogue.courses if cid in state.visible and cid not in hidden]
    option_of: dict[Key, blend.Option] = {}
    courses.sort(key=lambda c: (c != state.recent_course, c not in state.enrolled))
    for course_id in courses:
        lessons = catalogue.lessons.get(course_id, [])
        done = state.done.get(course_id, set())
        options = ready(lessons, done)
        title = catalogue.courses[course_id].title
        builds_on = requirements(lessons)
        current = course_id == state.recent_course or (
            state.recent_course is None and course_id in state.enrolled
        )
        for position, row in enumerate(options):
            key = (course_id, row.lesson_id)
            option_of[key] = blend.Option(key, current, position)
            if current:
                weight = W_CONTINUE * (1.0 if position == 0 else 0.5)
                reason = (
                    f"next in {title}, the course you are on" if position == 0 else f"also open in {title}"
                )
                kind = "continue"
            elif course_id in state.enrolled:
                weight, reason, kind = 0.4 * W_CONTINUE * (position == 0), f"next in {title}", "next"
            else:
                if done or position > 0:
                    continue
                language = catalogue.courses[course_id].language
                if state.language and language and language != state.language:
                    weight = 0.2 * W_START  # another language: after every course in the learner's own
                else:
                    weight = W_START
                reason, kind = f"starts {title}, a course you have not begun", "start"
            candidates.setdefault(key, []).append((weight, reason, kind))
            if course_id not in state.enrolled:
                continue
            for parent in builds_on.get(row.lesson_id, []):
                mastery, answers, right = state.mastery.get((course_id, parent), (None, 0, 0))
                if parent in done and mastery is not None and mastery < WEAK:
                    scored = f"you scored {right}/{answers}" if answers else "your recall is fading"
                    reason = (
                        f"{scored} on {titles.get((course_id, parent), parent)}, which {row.title} builds on"
                    )
                    candidates.setdefault((course_id, parent), []).append(
                        (W_REVIEW * (1 + WEAK - mastery), reason, "review")
                    )
    keys = [k for k, parts in candidates.items() if any(kind != "review" for _, _, kind in parts)]
    weights = getattr(collab, "blend", None)
    learned: dict[Key, float] = {}
    studying = [k for k in keys if k[0] in state.enrolled or k[0] == state.recent_course]
    if collab is not None and weights is not None and studying:
        # Learned weights (recommender.blend): one probability per lesson of the learner's courses
        # from every signal at once (the blend is fitted on those); the parts below then only choose
        # the reason shown. A course not begun keeps its small fixed weight.
        rows = blend.features(collab, state.history, [option_of[k] for k in studying], state.similarity)
        scores = W_START + W_BLEND * blend.probabilities(weights, rows)
        learned = dict(zip(studying, scores.tolist(), strict=True))
        for key in keys:
            if key not in learned:
                learned[key] = sum(w for w, _, kind in candidates[key] if kind == "start")
    elif collab is not None:
        # Where many learners stood where this one stands, what they did next says more than course
        # order: the course-position weights fade as that evidence grows.
        trust = collab.confidence(state.history, keys)
        for key in keys:
            candidates[key] = [
                (w * (1 - 0.5 * trust) if kind in ("continue", "next", "start") else w, r, kind)
                for w, r, kind in candidates[key]
            ]
    if collab is not None:
        for key, signal in collab.signals(state.history, keys, titles).items():
            candidates[key].append((W_COLLAB * signal.score, signal.reason, "next"))
    bonus: dict[Key, float] = {}
    for key in keys:
        similarity = state.similarity.get(key, 0.0)
        if similarity > 0:
            word, count = state.asked.get(key, ("", 0))
            reason = f"you asked about {word} {_times(count)}" if count else "close to what you asked about"
            candidates[key].append((W_CONTENT * similarity, reason, "next"))
        if key in state.topics and not state.asked.get(key):
            bonus[key] = 0.3 * W_CONTENT
            candidates[key].append((bonus[key], f"about {state.topics[key]}, one of your topics", "next"))
    result = []
    for key, parts in candidates.items():
        # A personal reason (a weak prerequisite, other learners, your questions) says more than
        # "next in the course": it is shown unless the course position clearly dominates.
        best = max(parts, key=lambda p: p[0] * (0.5 if p[2] in ("continue", "start") else 1.0))
        kind = (
            "review"
            if any(k == "review" for _, _, k in parts)
            else next((k for _, _, k in parts if k != "next"), "next")
        )
        if learned:
            score = learned.get(key, 0.0) + bonus.get(key, 0.0) + sum(w for w, _, k in parts if k == "review")
        else:
            score = sum(p[0] for p in parts)
        result.append(Recommendation(key[0], key[1], titles.get(key, key[1]), round(score, 4), best[1], kind))
    result.sort(key=lambda r: -r.score)
    chosen = result[:n]
    if upsell:
        locked = [
            c
            for cid, c in catalogue.courses.items()
            if cid not in state.visible and c.premium and cid not in hidden
        ]
        locked.sort(key=lambda c: bool(state.language and c.language != state.language))
        if locked:
            course = locked[0]
            chosen.append(
                Recommendation(
                    course.course_id,
                    "",
                    course.title,
                    0.0,
                    f"premium track {course.track}: unlock it with /premium",
                    "upsell",
                    locked=True,
                )
            )
    return chosen
