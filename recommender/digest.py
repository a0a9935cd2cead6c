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

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import numpy as np

from recommender.digest_report import Digest, MemberRow
from recommender.profile import course_snapshot, recall
from recommender.records import TeamRecords
from recommender.risk import RiskModel

WEEK = timedelta(days=7)
AT_RISK_SHOWN = 10
QUESTIONS_SHOWN = 10
MISSED_SHOWN = 5
MIN_TRIES = 3
"""Answers an item needs (over the chart's weeks) before its facility is shown."""


def may_get_digest(store: TeamRecords, team_id: str, platform: str, user_id: str, is_admin: bool) -> bool:
    """Only a team's managers and admins may get its digest."""
    return is_admin or team_id in store.managed_teams(platform, user_id)


def build_digest(
    store: TeamRecords, team_id: str, now: datetime, weeks: int = 8, model: RiskModel | None = None
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
    course_titles = {c.course_id: c.title for c in store.courses()}
    activity = store.team_activity(members)
    events, attempts, cards = activity.events, activity.attempts, activity.cards
    enrolled, asked = activity.enrolled, activity.asked

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
