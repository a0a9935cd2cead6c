"""The learner model: what a learner did, how well they know each lesson, and whether they are at risk.

Everything is derived from the append-only tables the learning loop writes (progress events, quiz
attempts, FSRS review cards, the questions log); nothing here is stored. The at-risk inputs of one
(learner, course) come from :func:`course_snapshot`, which the single-learner profile and the bulk
digest both call, so a learner's risk is the same wherever it is shown.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from fsrs import Scheduler

from recommender.records import LearnerRecords
from recommender.risk import LESSON_PACE_DAYS, Risk, RiskModel, Snapshot

RECENT_ANSWERS = 3
"""The latest answers that make "recent" scores (against the earlier ones: falling scores)."""
OVERDUE_AFTER = timedelta(days=3)
"""A review due longer ago than this counts as overdue (the OULAD analogue: a missed deadline).
A few days' slack: FSRS due times are soft, unlike an assessment deadline."""
# Retrievability needs only these two, which come from FSRS's parameters, not the desired retention.
# py-fsrs directly, like the learning loop's scheduler (bot.reviews): no arrow back into bot.
_SCHEDULER = Scheduler(desired_retention=0.9)
_DECAY, _FACTOR = _SCHEDULER._DECAY, _SCHEDULER._FACTOR


def recall(card: Mapping[str, object], now: datetime) -> float | None:
    """FSRS retrievability of a stored card (its ``to_dict()``) at ``now``; ``None`` before a review."""
    last, stability = card.get("last_review"), card.get("stability")
    if not last or not stability:
        return None
    elapsed = max(0, (now - datetime.fromisoformat(str(last))).days)
    return float((1 + _FACTOR * elapsed / float(stability)) ** _DECAY)


def _days(now: datetime, then: str | None) -> float:
    return max(0.0, (now - datetime.fromisoformat(then)).total_seconds() / 86400) if then else 0.0


def course_snapshot(
    answers: Iterable[tuple[str, int]],
    card_dues: Iterable[str],
    last_active: str | None,
    enrolled_at: str | None,
    now: datetime,
    lessons_done: int = 0,
    lessons_total: int = 0,
    started: bool = False,
    done_at: Iterable[str] = (),
) -> Snapshot:
    """The at-risk inputs of one learner in one course at ``now``.

    Args:
        answers: ``(at, correct)`` of the learner's quiz answers in the course.
        card_dues: Due times of the learner's review cards in the course.
        last_active: The learner's latest activity (any course, or a question), ISO time.
        enrolled_at: When they enrolled in the course.
        now: The moment.
        lessons_done: Lessons of the course the learner finished.
        lessons_total: Lessons in the course (caps the lessons due by now).
        started: Whether the learner opened any lesson of the course.
        done_at: When each lesson done was finished, ISO times (lesson *k* in that order was due
            *k* weeks after enrolling: how early it came; the study days between the last two).
    """
    answers, done_at = sorted(answers), list(done_at)
    scores = [float(c) for _, c in answers]
    overdue_before = now - OVERDUE_AFTER
    missed = [d for d in (datetime.fromisoformat(d) for d in card_dues) if d < overdue_before]
    recent, earlier = scores[-RECENT_ANSWERS:], scores[:-RECENT_ANSWERS]
    tenure = _days(now, enrolled_at)
    due = min(lessons_total, math.ceil(tenure / LESSON_PACE_DAYS)) if lessons_total else 0
    finished = sorted(_days(now, at) for at in done_at)[::-1]  # days ago, oldest first
    # lesson k (from 1) was due k weeks after enrolling, i.e. tenure - 7k days ago
    early = [max(0.0, age - (tenure - LESSON_PACE_DAYS * k)) for k, age in enumerate(finished, 1)]
    dates = sorted({at[:10] for at in [*done_at, *(a for a, _ in answers)]})  # ISO dates: no parsing
    gap = (date.fromisoformat(dates[-1]) - date.fromisoformat(dates[-2])).days if len(dates) > 1 else 0
    late = [(now - d).total_seconds() / 86400 for d in missed]
    return Snapshot(
        mean_score=sum(scores) / len(scores) if scores else None,
        last_score=sum(recent) / len(recent) if recent else None,
        earlier_score=sum(earlier) / len(earlier) if earlier else None,
        missed=max(0, due - lessons_done),
        due=due,
        late_days=sum(late) / len(late) if late else 0.0,
        silence_days=_days(now, last_active or enrolled_at),
        tenure_days=tenure,
        started=started or lessons_done > 0 or bool(scores),
        ahead=max(0, lessons_done - due),
        finished=bool(lessons_total) and lessons_done >= lessons_total,
        early_days=sum(early) / len(early) if early else 0.0,
        max_late_days=max(late, default=0.0),
        last_gap_days=float(gap),
    )


@dataclass
class LessonState:
    """One lesson for one learner: done or not, quiz answers, FSRS recall of its cards."""

    course_id: str
    lesson_id: str
    done: bool = False
    started: bool = False
    answers: int = 0
    correct: int = 0
    recalls: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float | None:
        """Share of right answers, ``None`` before the first."""
        return self.correct / self.answers if self.answers else None

    @property
    def mastery(self) -> float | None:
        """How well the lesson is known (0-1): smoothed accuracy, blended with current recall.

        ``None`` without any evidence (no answers, no reviewed cards).
        """
        if not self.answers and not self.recalls:
            return None
        accuracy = (self.correct + 0.5) / (self.answers + 1)
        if not self.recalls:
            return accuracy
        return 0.6 * accuracy + 0.4 * sum(self.recalls) / len(self.recalls)


@dataclass
class Profile:
    """What the recommender and the digests know about a learner."""

    learner_id: int
    lessons: dict[tuple[str, str], LessonState]
    enrolled: dict[str, str]
    """Course id -> enrollment time."""
    last_active: str | None
    recent_course: str | None
    """The course of the latest lesson event or answer."""
    questions: list[str]
    """Recent questions, newest last."""
    unanswered: list[str]
    languages: list[str]
    """Languages of the learner's questions, most used first."""
    risks: dict[str, Risk]
    """Course id -> at-risk score and reasons."""

    def done(self, course_id: str) -> set[str]:
        """Lessons done in a course."""
        return {lid for (cid, lid), s in self.lessons.items() if cid == course_id and s.done}

    def state(self, course_id: str, lesson_id: str) -> LessonState:
        """A lesson's state (an empty one when the learner never touched it)."""
        return self.lessons.get((course_id, lesson_id)) or LessonState(course_id, lesson_id)

    def interests(self, tags: Mapping[tuple[str, str], list[str]], top: int = 8) -> list[str]:
        """Tags of the lessons the learner finished or asked about, most frequent first."""
        counts: dict[str, int] = defaultdict(int)
        asked = " ".join(self.questions).lower()
        for key, keywords in tags.items():
            state = self.lessons.get(key)
            for word in keywords:
                counts[word] += (1 if state and state.done else 0) + 2 * asked.count(word.lower())
        return [w for w, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n > 0][:top]


def build_profile(
    store: LearnerRecords,
    learner_id: int,
    now: datetime,
    model: RiskModel | None = None,
    recent_questions: int = 10,
) -> Profile:
    """A learner's profile from the records (one learner: a handful of small queries)."""
    item_lesson = {item.item_id: item.lesson_id for item in store.quiz_items(status=None)}
    lessons: dict[tuple[str, str], LessonState] = {}

    def state(course_id: str, lesson_id: str) -> LessonState:
        return lessons.setdefault((course_id, lesson_id), LessonState(course_id, lesson_id))

    activity: list[tuple[str, str]] = []  # (at, course)
    finished_at: dict[tuple[str, str], str] = {}
    for event in store.progress_events(learner_id):
        s = state(event["course_id"], event["lesson_id"])
        if event["kind"] == "done" and not s.done:
            finished_at[(event["course_id"], event["lesson_id"])] = event["at"]
        s.started = True
        s.done = s.done or event["kind"] == "done"
        activity.append((event["at"], event["course_id"]))
    answers: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for attempt in store.attempts(learner_id):
        s = state(attempt.course_id, item_lesson.get(attempt.item_id, ""))
        s.answers += 1
        s.correct += int(attempt.correct)
        answers[attempt.course_id].append((attempt.at, int(attempt.correct)))
        activity.append((attempt.at, attempt.course_id))
    dues: dict[str, list[str]] = defaultdict(list)
    for card in store.review_cards(learner_id):
        value = recall(card.card, now)
        if value is not None:
            state(card.course_id, item_lesson.get(card.item_id, "")).recalls.append(value)
        dues[card.course_id].append(card.due)
    logged = store.questions(learner_id)
    times = [a for a, _ in activity] + [q["created_at"] for q in logged]
    last_active = max(times) if times else None
    enrolled = store.enrollment_times(learner_id)
    model = model or RiskModel.load()
    sizes = {c: len(store.lessons(c)) for c in enrolled}
    risks = {
        course_id: model.explain(
            course_snapshot(
                answers[course_id],
                dues[course_id],
                last_active,
                at,
                now,
                lessons_done=sum(1 for (c, _), s in lessons.items() if c == course_id and s.done),
                lessons_total=sizes[course_id],
                started=any(c == course_id and s.started for (c, _), s in lessons.items()),
                done_at=[t for (c, _), t in finished_at.items() if c == course_id],
            )
        )
        for course_id, at in enrolled.items()
    }
    return Profile(
        learner_id=learner_id,
        lessons=lessons,
        enrolled=enrolled,
        last_active=last_active,
        recent_course=max(activity)[1] if activity else None,
        questions=[q["question"] for q in logged[-recent_questions:]],
        unanswered=[q["question"] for q in logged if not q["grounded"]][-recent_questions:],
        languages=[lang for lang, _ in Counter(q["language"] for q in logged if q["language"]).most_common()],
        risks=risks,
    )
