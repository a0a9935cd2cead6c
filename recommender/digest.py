"""Managers' weekly digest of a team: what a manager acts on.

Who has not started; completion per learner (and per lesson in the CSV); this week against the
last; the quiz items the team misses most; who is at risk, ranked, with reasons (not a percentage:
OULAD's base rate lifts every probability); questions the course could not answer; a chart.

:func:`build_digest` reads each table once for the whole team (a few queries, whatever its size) and
scores every member with the same at-risk model and inputs as a learner's own profile
(:func:`recommender.profile.course_snapshot`). Only a team's managers and admins may get it
(:func:`may_get_digest`).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from bot.store import Store
from recommender.profile import course_snapshot, recall
from recommender.risk import RiskModel

WEEK = timedelta(days=7)
AT_RISK_SHOWN = 10
QUESTIONS_SHOWN = 10
MISSED_SHOWN = 5
NOT_STARTED_SHOWN = 10
COMPLETION_SHOWN = 15
MIN_TRIES = 3
"""Answers an item needs (over the chart's weeks) before its facility is shown."""


@dataclass(frozen=True)
class MemberRow:
    """One member's week and risk (their riskiest course)."""

    learner_id: int
    name: str
    active: bool
    lessons_done: int
    answers: int
    correct: int
    risk: float
    course: str
    reasons: list[str]
    lessons_total: int = 0
    """Lessons in the member's courses."""
    completed: int = 0
    """Of them, finished."""
    flagged: bool = False
    """Listed as at risk (never started, or the model's probability past :data:`AT_RISK`)."""
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    """(course, lesson) -> ``done`` or ``started`` (the CSV's per-lesson columns)."""

    @property
    def completion(self) -> float | None:
        """Share of the member's lessons finished (``None`` without an enrollment)."""
        return self.completed / self.lessons_total if self.lessons_total else None


@dataclass
class Digest:
    """A team's digest for the week ending at ``end``."""

    team_id: str
    name: str
    start: datetime
    end: datetime
    members: int
    active: int
    lessons_done: int
    answers: int
    correct: int
    retention: float | None
    at_risk: list[MemberRow]
    """The riskiest members (at most :data:`AT_RISK_SHOWN`), riskiest first."""
    unanswered: list[tuple[str, int]]
    weeks: list[tuple[date, int, int, float | None]]
    """(week start, active learners, lessons completed, quiz accuracy), oldest first."""
    rows: list[MemberRow] = field(default_factory=list)
    not_started: list[tuple[str, str, int]] = field(default_factory=list)
    """(member, course, days since enrolling) of enrollments with no lesson opened, longest first."""
    missed: list[tuple[str, str, int, int]] = field(default_factory=list)
    """(question, lesson title, answers, right answers): the items the team misses most."""
    lessons: list[tuple[str, str, str]] = field(default_factory=list)
    """(course, lesson, title) of the members' courses in course order (the CSV's columns)."""

    @property
    def at_risk_total(self) -> int:
        """How many members are at risk (the digest names the riskiest)."""
        return sum(1 for r in self.rows if r.flagged)

    @property
    def previous(self) -> tuple[date, int, int, float | None] | None:
        """The week before this one (from the chart's series)."""
        return self.weeks[-2] if len(self.weeks) >= 2 else None

    @property
    def accuracy(self) -> float | None:
        """Share of right quiz answers this week."""
        return self.correct / self.answers if self.answers else None

    def chart(self) -> bytes:
        """The PNG chart of the last weeks."""
        from recommender.chart import progress_chart  # matplotlib loads only when a chart is drawn

        return progress_chart(
            f"{self.name}: the last {len(self.weeks)} weeks",
            [w[0] for w in self.weeks],
            [w[2] for w in self.weeks],
            [w[1] for w in self.weeks],
            [w[3] for w in self.weeks],
        )

    def text(self) -> str:
        """The digest as chat text (also the Markdown export's body)."""
        accuracy = f"{self.accuracy:.0%} of {self.answers}" if self.accuracy is not None else "no answers"
        retention = f"{self.retention:.0%}" if self.retention is not None else "no reviews yet"
        before = self.previous
        lines = [
            f"Weekly digest: {self.name} ({self.start:%d %b} - {self.end - timedelta(seconds=1):%d %b})",
            f"- Active learners: {self.active} of {self.members}{_change(self.active, before and before[1])}",
            f"- Lessons completed: {self.lessons_done}{_change(self.lessons_done, before and before[2])}",
            f"- Quiz accuracy: {accuracy}{_points(self.accuracy, before[3] if before else None)}",
            f"- Predicted retention: {retention}",
        ]
        if self.not_started:
            lines.append(f"Not started: {len(self.not_started)}")
            lines += [
                f"- {name} ({course}): enrolled {days} days ago, no lesson opened"
                for name, course, days in self.not_started[:NOT_STARTED_SHOWN]
            ]
        enrolled = sorted(
            (r for r in self.rows if r.lessons_total), key=lambda r: (r.completion or 0, r.name)
        )
        if enrolled:
            more = (
                f", the {COMPLETION_SHOWN} lowest shown (all in the CSV)"
                if len(enrolled) > COMPLETION_SHOWN
                else ""
            )
            lines.append(f"Completion, lowest first{more}:")
            for r in enrolled[:COMPLETION_SHOWN]:
                lines.append(f"- {r.name}: {r.completed} of {r.lessons_total} lessons ({r.completion:.0%})")
        if self.at_risk:
            total = self.at_risk_total
            shown = f", the {len(self.at_risk)} most at risk shown" if total > len(self.at_risk) else ""
            lines.append(f"At risk: {total} of {self.members}{shown}, most at risk first:")
            for n, row in enumerate(self.at_risk, 1):
                why = "; ".join(row.reasons) or "several small signs"
                lines.append(f"{n}. {row.name} ({row.course}): {why}")
        else:
            lines.append("At risk: nobody")
        if self.missed:
            lines.append("Most-missed quiz items:")
            for question, lesson, tries, right in self.missed:
                lines.append(f"- {_short(question)} ({lesson}): {right} of {tries} right")
        if self.unanswered:
            lines.append("Questions the course could not answer:")
            lines += [f"- {q} ({n}x)" if n > 1 else f"- {q}" for q, n in self.unanswered]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The digest as Markdown."""
        body = self.text().splitlines()
        table = ["", "| week starting | active | lessons completed | quiz accuracy |", "|---|---|---|---|"]
        for start, active, done, accuracy in self.weeks:
            shown = f"{accuracy:.0%}" if accuracy is not None else "-"
            table.append(f"| {start:%Y-%m-%d} | {active} | {done} | {shown} |")
        return "\n".join([f"# {body[0]}", "", *body[1:], *table]) + "\n"

    def csv(self) -> str:
        """One row per member: this week, completion, risk with reasons, then each lesson's status."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [
                "learner_id",
                "name",
                "active",
                "lessons_done",
                "answers",
                "correct",
                "completed",
                "lessons_total",
                "completion",
                "at_risk",
                "risk",
                "course",
                "reasons",
                *[f"{course}/{lesson}" for course, lesson, _ in self.lessons],
            ]
        )
        for r in self.rows:
            writer.writerow(
                [
                    r.learner_id,
                    r.name,
                    int(r.active),
                    r.lessons_done,
                    r.answers,
                    r.correct,
                    r.completed,
                    r.lessons_total,
                    f"{r.completion:.3f}" if r.completion is not None else "",
                    int(r.flagged),
                    f"{r.risk:.3f}",
                    r.course,
                    "; ".join(r.reasons),
                    *[r.status.get((course, lesson), "") for course, lesson, _ in self.lessons],
                ]
            )
        return buffer.getvalue()


def _change(now: int, before: int | None) -> str:
    if before is None:
        return ""
    return f" ({now - before:+d} on last week)" if now != before else " (as last week)"


def _points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    return f" ({(now - before) * 100:+.0f} points on last week)"


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def may_get_digest(store: Store, team_id: str, platform: str, user_id: str, is_admin: bool) -> bool:
    """Only a team's managers and admins may get its digest."""
    return is_admin or team_id in store.managed_teams(platform, user_id)


def build_digest(
    store: Store, team_id: str, now: datetime, weeks: int = 8, model: RiskModel | None = None
) -> Digest:
    """The team's digest for the 7 days before ``now`` and a chart of ``weeks`` weeks.

    Raises:
        KeyError: no such team.
    """
    team = store.team(team_id)
    if team is None:
        raise KeyError(team_id)
    model = model or RiskModel.load()
    members = store.team_members(team_id)
    names = store.display_names(members)
    course_titles = {c["course_id"]: c["title"] for c in store.courses()}
    events = store.bulk_rows("progress_events", "learner_id, course_id, kind, at, lesson_id", members)
    attempts = store.bulk_rows("quiz_attempts", "learner_id, course_id, correct, at, item_id", members)
    cards = store.bulk_rows(  # SQLite reads the two card fields recall needs, not Python's json
        "review_cards",
        "learner_id, course_id, json_extract(card, '$.stability'), json_extract(card, '$.last_review'), due",
        members,
    )
    enrolled = store.bulk_rows("enrollments", "learner_id, course_id, enrolled_at", members)
    asked = store.bulk_rows("questions_log", "learner_id, question, grounded, created_at", members)

    last: dict[int, str] = {}
    for learner, at in (
        [(e[0], e[3]) for e in events] + [(a[0], a[3]) for a in attempts] + [(q[0], q[3]) for q in asked]
    ):
        if at > last.get(learner, ""):
            last[learner] = at
    answers_by: dict[tuple[int, str], list[tuple[str, int]]] = defaultdict(list)
    for learner, course, correct, at, _ in attempts:
        answers_by[(learner, course)].append((at, int(correct)))
    status: dict[int, dict[tuple[str, str], str]] = defaultdict(dict)
    done_at: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    for learner, course, kind, at, lesson in events:
        if kind == "done":
            finished = done_at[(learner, course)]
            finished[lesson] = min(at, finished.get(lesson, at))
        mine = status[learner]
        mine[(course, lesson)] = (
            "done" if kind == "done" or mine.get((course, lesson)) == "done" else "started"
        )
    course_lessons = {c: [r.lesson_id for r in store.lessons(c)] for c in {c for _, c, _ in enrolled}}
    dues: dict[tuple[int, str], list[str]] = defaultdict(list)
    recalls = []
    for learner, course, stability, last_review, due in cards:
        dues[(learner, course)].append(due)
        value = recall({"stability": stability, "last_review": last_review}, now)
        if value is not None:
            recalls.append(value)

    keys = [(learner, course, at) for learner, course, at in enrolled]

    def done_in(learner: int, course: str) -> int:
        return sum(1 for lesson in course_lessons[course] if status[learner].get((course, lesson)) == "done")

    snaps = [
        course_snapshot(
            answers_by[(lr, c)],
            dues[(lr, c)],
            last.get(lr),
            at,
            now,
            lessons_done=done_in(lr, c),
            lessons_total=len(course_lessons[c]),
            started=any(course == c for course, _ in status[lr]),
            done_at=done_at[(lr, c)].values(),
        )
        for lr, c, at in keys
    ]
    risks = model.explain_many(snaps)
    riskiest: dict[int, tuple[tuple[bool, float], int]] = {}  # learner -> ((listed, probability), index)
    for index, (learner, _, _) in enumerate(keys):
        order = (risks[index].at_risk, risks[index].probability)
        if learner not in riskiest or order > riskiest[learner][0]:
            riskiest[learner] = (order, index)

    def week(at: str) -> int:
        """0 for the last 7 days, 1 for the week before, ...; -1 outside the chart."""
        age = (now - datetime.fromisoformat(at)).total_seconds()
        return int(age // WEEK.total_seconds()) if 0 <= age < weeks * WEEK.total_seconds() else -1

    active = [set() for _ in range(weeks)]
    done = [Counter() for _ in range(weeks)]
    total = [Counter() for _ in range(weeks)]
    right = [Counter() for _ in range(weeks)]
    for learner, _, kind, at, _ in events:
        k = week(at)
        if k >= 0:
            active[k].add(learner)
            done[k][learner] += kind == "done"
    item_tries: Counter[str] = Counter()
    item_right: Counter[str] = Counter()
    for learner, _, correct, at, item in attempts:
        k = week(at)
        if k >= 0:
            active[k].add(learner)
            total[k][learner] += 1
            right[k][learner] += int(correct)
            item_tries[item] += 1
            item_right[item] += int(correct)
    for learner, _, _, at in asked:
        k = week(at)
        if k >= 0:
            active[k].add(learner)
    series = []
    for k in range(weeks - 1, -1, -1):
        answered = sum(total[k].values())
        accuracy = sum(right[k].values()) / answered if answered else None
        series.append(((now - (k + 1) * WEEK).date(), len(active[k]), sum(done[k].values()), accuracy))
    start = now - WEEK

    courses_of: dict[int, list[str]] = defaultdict(list)  # one pass: a scan per member is quadratic
    for lr, c, _ in keys:
        courses_of[lr].append(c)
    rows = []
    for learner in members:
        (listed, probability), index = riskiest.get(learner, ((False, 0.0), -1))
        settled = index >= 0 and snaps[index].settled
        mine = courses_of[learner]
        rows.append(
            MemberRow(
                learner_id=learner,
                name=names.get(learner) or f"learner {learner}",
                active=learner in active[0],
                lessons_done=done[0][learner],
                answers=total[0][learner],
                correct=right[0][learner],
                risk=probability if settled else 0.0,
                course=course_titles.get(keys[index][1], keys[index][1]) if index >= 0 else "",
                reasons=risks[index].reasons if listed else [],
                lessons_total=sum(len(course_lessons[c]) for c in mine),
                completed=sum(done_in(learner, c) for c in mine),
                flagged=listed,
                status=status[learner],
            )
        )
    at_risk = sorted((r for r in rows if r.flagged), key=lambda r: -r.risk)[:AT_RISK_SHOWN]
    not_started = sorted(
        (
            (names.get(lr) or f"learner {lr}", course_titles.get(c, c), int(snap.tenure_days))
            for (lr, c, _), snap in zip(keys, snaps, strict=True)
            if not snap.started
        ),
        key=lambda r: (-r[2], r[0]),
    )
    items = {i.item_id: i for c in course_lessons for i in store.quiz_items(c, status=None)}
    lesson_titles = {(c, r.lesson_id): r.title for c in course_lessons for r in store.lessons(c)}
    missed = sorted(
        (
            (
                items[i].question,
                lesson_titles.get((items[i].course_id, items[i].lesson_id), ""),
                n,
                item_right[i],
            )
            for i, n in item_tries.items()
            if i in items and n >= MIN_TRIES and item_right[i] < n
        ),
        key=lambda r: (r[3] / r[2], -r[2], r[0]),
    )[:MISSED_SHOWN]
    lo = start.isoformat(timespec="seconds")
    gaps = Counter(" ".join(q[1].split()) for q in asked if not q[2] and q[3] >= lo)
    return Digest(
        team_id=team_id,
        name=team["name"],
        start=start,
        end=now,
        members=len(members),
        active=len(active[0]),
        lessons_done=sum(done[0].values()),
        answers=sum(total[0].values()),
        correct=sum(right[0].values()),
        retention=float(np.mean(recalls)) if recalls else None,
        at_risk=at_risk,
        unanswered=gaps.most_common(QUESTIONS_SHOWN),
        weeks=series,
        rows=rows,
        not_started=not_started,
        missed=missed,
        lessons=[
            (c, lesson, lesson_titles.get((c, lesson), lesson))
            for c in sorted(course_lessons)
            for lesson in course_lessons[c]
        ],
    )
