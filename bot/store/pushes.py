"""Where learners talk to the bot, and the pushes the scheduled jobs record before they send.

A push (a due quiz, the weekly feedback, a nudge) is a row of ``sent_pushes``, unique per learner,
kind, item and due key. It is inserted ``pending``, claimed by one worker with an atomic update,
sent, and marked ``sent``; a failed send goes back to ``pending`` with an attempt count and a later
``next_attempt_at``. So a rerun after a crash finds the row instead of sending again, and two
overlapping runs cannot both claim it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.base import StoreBase, iso
from bot.store.rows import LearnerSettings

_BATCH = 500  # ids per "in (...)" list, well under SQLite's variable limit


@dataclass(frozen=True)
class ActiveHours:
    """A learner's time zone and active hours (start inclusive, end exclusive; start > end wraps midnight)."""

    timezone: str
    start: int
    end: int


@dataclass(frozen=True)
class PushCandidate:
    """The most overdue card of one learner in one course, with the learner's active hours.

    ``pushed``: a quiz push was recorded for this card's current due time already (it was ignored).
    """

    learner_id: int
    item_id: str
    course_id: str
    due: str
    hours: ActiveHours
    pushed: bool = False


@dataclass(frozen=True)
class QuizPushState:
    """One learner's recent quiz pushes, as the pacing rules of the quiz job need them.

    ``open_day`` is the latest local day of a sent push whose card is still unanswered (empty if none);
    ``last_day`` the latest local day of any recorded quiz push; ``ignored`` how many sent pushes came
    after the learner's last quiz answer (any item, by any path); ``pending`` whether one waits to be sent.
    """

    learner_id: int
    pending: bool
    open_day: str
    last_day: str
    ignored: int


@dataclass(frozen=True)
class LearnerClock:
    """A learner the weekly feedback or a nudge may go to: active hours and a moment that matters.

    ``since`` is the first enrollment (feedback) or the last activity (nudge).
    """

    learner_id: int
    since: str
    hours: ActiveHours


@dataclass(frozen=True)
class Push:
    """One recorded push. ``due`` is the key's time part: the card's due time, a week, a silence."""

    id: int
    kind: str
    learner_id: int
    item_id: str
    due: str
    local_day: str
    platform: str
    chat_id: str
    status: str
    attempts: int
    claimed_by: str
    last_error: str
    created_at: str
    sent_at: str


def _push(row: dict[str, Any]) -> Push:
    return Push(
        id=row["id"],
        kind=row["kind"],
        learner_id=row["learner_id"],
        item_id=row["item_id"],
        due=row["due"],
        local_day=row["local_day"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        status=row["status"],
        attempts=row["attempts"],
        claimed_by=row["claimed_by"] or "",
        last_error=row["last_error"] or "",
        created_at=row["created_at"],
        sent_at=row["sent_at"] or "",
    )


def _batches(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class PushStore(StoreBase):
    """Chats and recorded pushes: the scheduled jobs' part of :class:`bot.store.Store`."""

    # -- chats -----------------------------------------------------------------------------

    def record_chat(self, learner_id: int, platform: str, chat_id: str, direct: bool, at: datetime) -> None:
        """Note that the learner just talked to the bot in this chat (``direct``: a one-to-one chat)."""
        with self.transaction():
            self.db.execute(
                "insert into chats(learner_id, platform, chat_id, direct, updated_at) values (?, ?, ?, ?, ?) "
                "on conflict(learner_id, platform, chat_id) do update set "
                "direct = excluded.direct, updated_at = case when chats.updated_at > excluded.updated_at "
                "then chats.updated_at else excluded.updated_at end",
                [learner_id, platform, chat_id, int(direct), iso(at)],
            )

    def chats(self, learner_id: int) -> list[dict[str, Any]]:
        """A learner's chats, most recently used first."""
        return list(
            self.db["chats"].rows_where("learner_id = ?", [learner_id], order_by="updated_at desc, platform")
        )

    def push_chats(self, learner_ids: Sequence[int], platforms: Sequence[str]) -> dict[int, tuple[str, str]]:
        """Each learner's most recently used direct chat on one of ``platforms``: ``(platform, chat_id)``."""
        found: dict[int, tuple[str, str]] = {}
        if not platforms:
            return found
        for batch in _batches(list(learner_ids)):
            rows = self.db.execute(
                "select learner_id, platform, chat_id from chats "
                f"where direct = 1 and platform in ({_marks(platforms)}) and learner_id in ({_marks(batch)}) "
                "order by updated_at",
                [*platforms, *batch],
            )
            for learner_id, platform, chat_id in rows.fetchall():
                found[learner_id] = (platform, chat_id)  # later rows are more recent
        return found

    def last_active(self, learner_id: int) -> str | None:
        """When the learner last wrote to the bot, anywhere (UTC ISO text), or ``None``."""
        row = self.db.execute(
            "select max(updated_at) from chats where learner_id = ?", [learner_id]
        ).fetchone()
        return row[0] if row else None

    # -- who is due for what ---------------------------------------------------------------

    def due_push_candidates(self, now: datetime) -> list[PushCandidate]:
        """Per learner and course, the most overdue approved card, and whether it was pushed before.

        Paused learners are left out. A card pushed for its due time and not answered stays the most
        overdue of its course, so it is the one offered again (the quiz job decides when). Uses the
        index on ``review_cards.due``; most overdue first.
        """
        d = LearnerSettings()
        # The most overdue card per (learner, course) is the first of its window partition (both
        # engines); whether it was pushed is asked only of those rows, not of every due card.
        rows = self.db.execute(
            "select w.learner_id, w.item_id, w.course_id, w.due, w.tz, w.active_start, w.active_end, "
            "case when exists (select 1 from sent_pushes p where p.learner_id = w.learner_id "
            "and p.kind = 'quiz' and p.item_id = w.item_id and p.due = w.due) then 1 else 0 end "
            "from (select c.learner_id, c.item_id, c.course_id, c.due, "
            "coalesce(s.timezone, ?) as tz, coalesce(s.active_start, ?) as active_start, "
            "coalesce(s.active_end, ?) as active_end, row_number() over "
            "(partition by c.learner_id, c.course_id order by c.due, c.item_id) as place "
            "from review_cards c "
            "join quiz_items q on q.item_id = c.item_id "
            "left join learner_settings s on s.learner_id = c.learner_id "
            "where c.due <= ? and q.status = 'approved' and coalesce(s.paused, 0) = 0) w "
            "where w.place = 1 order by w.due, w.learner_id",
            [d.timezone, d.active_start, d.active_end, iso(now)],
        )
        return [
            PushCandidate(learner, item, course, due, ActiveHours(tz, start, end), bool(pushed))
            for learner, item, course, due, tz, start, end, pushed in rows.fetchall()
        ]

    def quiz_push_states(self, since: datetime) -> dict[int, QuizPushState]:
        """Per learner with quiz pushes recorded since ``since``: what the pacing rules need.

        A sent push is unanswered while its card's due time is still the one it was pushed for
        (``due``, or ``due|day`` for a push repeated on a later day): answering moves the card.
        """
        rows = self.db.execute(
            "select p.learner_id, max(case when p.status = 'pending' then 1 else 0 end), "
            "max(case when p.status = 'sent' and c.due is not null "
            "and (p.due = c.due or p.due = c.due || '|' || p.local_day) then p.local_day else '' end), "
            "max(p.local_day), "
            "sum(case when p.status = 'sent' and p.sent_at > coalesce("
            "(select max(a.at) from quiz_attempts a where a.learner_id = p.learner_id), '') "
            "then 1 else 0 end) "
            "from sent_pushes p "
            "left join review_cards c on c.learner_id = p.learner_id and c.item_id = p.item_id "
            "where p.kind = 'quiz' and p.created_at >= ? and p.status in ('pending', 'sent') "
            "group by p.learner_id",
            [iso(since)],
        )
        return {
            learner: QuizPushState(learner, bool(pending), open_day or "", last_day or "", int(ignored or 0))
            for learner, pending, open_day, last_day, ignored in rows.fetchall()
        }

    def due_card_count(self, now: datetime) -> int:
        """How many review cards are due by ``now`` (an index-only count; the baseline for the job)."""
        return int(
            self.db.execute("select count(*) from review_cards where due <= ?", [iso(now)]).fetchone()[0]
        )

    def quiz_pushes_per_day(self, since: datetime) -> dict[tuple[int, str], int]:
        """Quiz pushes recorded since ``since``, counted per ``(learner, learner's local day)``."""
        rows = self.db.execute(
            "select learner_id, local_day, count(*) from sent_pushes "
            "where kind = 'quiz' and created_at >= ? group by learner_id, local_day",
            [iso(since)],
        )
        return {(learner, day): count for learner, day, count in rows.fetchall()}

    def feedback_learners(self) -> list[LearnerClock]:
        """Learners who are enrolled somewhere and not paused, with their first enrollment time."""
        d = LearnerSettings()
        rows = self.db.execute(
            "select e.learner_id, min(e.enrolled_at), coalesce(s.timezone, ?), "
            "coalesce(s.active_start, ?), coalesce(s.active_end, ?) "
            "from enrollments e left join learner_settings s on s.learner_id = e.learner_id "
            "where coalesce(s.paused, 0) = 0 "
            "group by e.learner_id, s.timezone, s.active_start, s.active_end",
            [d.timezone, d.active_start, d.active_end],
        )
        return [
            LearnerClock(learner, since, ActiveHours(tz, start, end))
            for learner, since, tz, start, end in rows.fetchall()
        ]

    def silent_learners(self, before: datetime) -> list[LearnerClock]:
        """Enrolled, unpaused learners silent since before ``before`` and not nudged for that silence.

        ``since`` is their last message, anywhere.
        """
        d = LearnerSettings()
        rows = self.db.execute(
            "select a.learner_id, a.last, coalesce(s.timezone, ?), "
            "coalesce(s.active_start, ?), coalesce(s.active_end, ?) "
            "from (select learner_id, max(updated_at) as last from chats group by learner_id) a "
            "left join learner_settings s on s.learner_id = a.learner_id "
            "where a.last <= ? and coalesce(s.paused, 0) = 0 "
            "and exists (select 1 from enrollments e where e.learner_id = a.learner_id) "
            "and not exists (select 1 from sent_pushes p where p.learner_id = a.learner_id "
            "and p.kind = 'nudge' and p.item_id = '' and p.due = a.last)",
            [d.timezone, d.active_start, d.active_end, iso(before)],
        )
        return [
            LearnerClock(learner, last, ActiveHours(tz, start, end))
            for learner, last, tz, start, end in rows.fetchall()
        ]

    def pushed_keys(self, kind: str, dues: Sequence[str]) -> set[tuple[int, str]]:
        """``(learner, due)`` of the pushes of ``kind`` (without an item) recorded for any of ``dues``."""
        found: set[tuple[int, str]] = set()
        for batch in _batches(sorted(set(dues))):
            rows = self.db.execute(
                f"select learner_id, due from sent_pushes where kind = ? and item_id = '' "
                f"and due in ({_marks(batch)})",
                [kind, *batch],
            )
            found.update((learner, due) for learner, due in rows.fetchall())
        return found

    # -- recording, claiming, sending ------------------------------------------------------

    def record_push(
        self,
        *,
        kind: str,
        learner_id: int,
        item_id: str,
        due: str,
        local_day: str,
        platform: str,
        chat_id: str,
        at: datetime,
    ) -> bool:
        """Record a push as ``pending`` before it is sent; ``False`` if its key was recorded already."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into sent_pushes(kind, learner_id, item_id, due, local_day, platform, "
                "chat_id, status, attempts, claimed_by, claimed_at, next_attempt_at, last_error, "
                "created_at, sent_at) values (?, ?, ?, ?, ?, ?, ?, 'pending', 0, null, null, ?, '', ?, null)",
                [kind, learner_id, item_id, due, local_day, platform, chat_id, iso(at), iso(at)],
            )
            return cursor.rowcount == 1

    def claimable_pushes(self, kind: str, now: datetime, stale_before: datetime) -> list[Push]:
        """Pending pushes of ``kind`` due for an attempt that nobody holds, oldest first.

        A claim older than ``stale_before`` counts as nobody's: its worker crashed mid-send.
        """
        rows = self.db.execute(
            "select * from sent_pushes where status = 'pending' and kind = ? and next_attempt_at <= ? "
            "and (claimed_by is null or claimed_at < ?) order by next_attempt_at, id",
            [kind, iso(now), iso(stale_before)],
        )
        names = [d[0] for d in rows.description]
        return [_push(dict(zip(names, row, strict=True))) for row in rows.fetchall()]

    def claim_push(self, push_id: int, worker: str, now: datetime, stale_before: datetime) -> bool:
        """Take a pending push for ``worker``; ``False`` if another worker holds it or it is done.

        One atomic update: of two overlapping runs, exactly one sees a changed row.
        """
        with self.transaction():
            cursor = self.db.execute(
                "update sent_pushes set claimed_by = ?, claimed_at = ? where id = ? and status = 'pending' "
                "and (claimed_by is null or claimed_at < ?)",
                [worker, iso(now), push_id, iso(stale_before)],
            )
            return cursor.rowcount == 1

    def mark_push_sent(self, push_id: int, worker: str, at: datetime) -> None:
        """The push reached the chat platform."""
        self._finish(push_id, worker, "status = 'sent', sent_at = ?, last_error = ''", [iso(at)])

    def retry_push_later(self, push_id: int, worker: str, error: str, next_attempt_at: datetime) -> None:
        """The send failed: back to unclaimed ``pending``, one more attempt counted, tried again later."""
        self._finish(
            push_id,
            worker,
            "claimed_by = null, claimed_at = null, attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = ?",
            [error[:500], iso(next_attempt_at)],
        )

    def release_push(self, push_id: int, worker: str) -> None:
        """Give a claimed push back untried (the learner paused, or it is their quiet hours)."""
        self._finish(push_id, worker, "claimed_by = null, claimed_at = null", [])

    def expire_push(self, push_id: int, worker: str, reason: str) -> None:
        """The push no longer makes sense (the card was answered, the learner came back): never send it."""
        self._finish(push_id, worker, "status = 'expired', last_error = ?", [reason])

    def _finish(self, push_id: int, worker: str, assignments: str, args: list[Any]) -> None:
        with self.transaction():
            self.db.execute(
                f"update sent_pushes set {assignments} where id = ? and claimed_by = ?",
                [*args, push_id, worker],
            )

    def pushes(self, learner_id: int | None = None, kind: str | None = None) -> list[Push]:
        """Recorded pushes, oldest first."""
        clauses, args = ["1 = 1"], []
        for column, value in (("learner_id", learner_id), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        return [
            _push(r) for r in self.db["sent_pushes"].rows_where(" and ".join(clauses), args, order_by="id")
        ]
