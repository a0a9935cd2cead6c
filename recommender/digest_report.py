"""The digest a manager reads: a team's week as a record, and as chat text, Markdown, CSV and a chart.

:func:`recommender.digest.build_digest` computes it from the records; nothing here reads them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

NOT_STARTED_SHOWN = 10
COMPLETION_SHOWN = 15


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
    """Listed as at risk (never started, or the model's probability past :data:`recommender.risk.AT_RISK`)."""
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
    """The riskiest members (at most :data:`recommender.digest.AT_RISK_SHOWN`), riskiest first."""
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
