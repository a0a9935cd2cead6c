"""Teams, their members and managers, lesson tags, and the bulk reads behind profiles and digests.

The digest for a team of 30,000 learners reads each table once for all members (``in (...)`` lists
in batches), never once per learner.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.store.base import StoreBase, iso, utcnow
from recommender.records import TeamActivity

_BATCH = 500  # ids per "in (...)" list, well under SQLite's variable limit
_ACTIVITY_TABLES = frozenset(
    {
        "learners",
        "enrollments",
        "progress_events",
        "quiz_attempts",
        "review_cards",
        "questions_log",
        "team_members",
    }
)


def _batches(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class TeamsStore(StoreBase):
    """Teams and managers (manager digests) and lesson tags (content tags)."""

    # -- teams -----------------------------------------------------------------------------

    def create_team(self, team_id: str, name: str = "") -> bool:
        """Create a team; ``False`` if it exists already."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into teams(team_id, name, created_at) values (?, ?, ?)",
                [team_id, name or team_id, utcnow()],
            )
            return cursor.rowcount == 1

    def team(self, team_id: str) -> dict[str, Any] | None:
        """One team row, or ``None``."""
        rows = list(self.db["teams"].rows_where("team_id = ?", [team_id]))
        return rows[0] if rows else None

    def list_teams(self) -> list[dict[str, Any]]:
        """Every team with its member and manager counts."""
        rows = self.db.execute(
            "select t.team_id, t.name, t.created_at, "
            "(select count(*) from team_members m where m.team_id = t.team_id) as members, "
            "(select count(*) from team_managers g where g.team_id = t.team_id) as managers "
            "from teams t order by t.team_id"
        )
        names = [d[0] for d in rows.description]
        return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]

    def add_team_member(self, team_id: str, learner_id: int, at: datetime) -> bool:
        """Put a learner in a team; ``False`` if they were in it already."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into team_members(team_id, learner_id, added_at) values (?, ?, ?)",
                [team_id, learner_id, iso(at)],
            )
            return cursor.rowcount == 1

    def team_members(self, team_id: str) -> list[int]:
        """The learner ids of a team."""
        rows = self.db.execute(
            "select learner_id from team_members where team_id = ? order by learner_id", [team_id]
        )
        return [int(r[0]) for r in rows.fetchall()]

    def add_team_manager(self, team_id: str, platform: str, platform_user_id: str, at: datetime) -> bool:
        """Make a platform user a manager of a team; ``False`` if they were already."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into team_managers(team_id, platform, platform_user_id, added_at) "
                "values (?, ?, ?, ?)",
                [team_id, platform, platform_user_id, iso(at)],
            )
            return cursor.rowcount == 1

    def team_managers(self, team_id: str | None = None) -> list[dict[str, Any]]:
        """Managers (of one team, or of all), as ``team_id``, ``platform``, ``platform_user_id``."""
        if team_id is None:
            return list(self.db["team_managers"].rows_where(order_by="team_id, platform, platform_user_id"))
        return list(
            self.db["team_managers"].rows_where(
                "team_id = ?", [team_id], order_by="platform, platform_user_id"
            )
        )

    def managed_teams(self, platform: str, platform_user_id: str) -> list[str]:
        """The teams a platform user manages."""
        rows = self.db.execute(
            "select team_id from team_managers where platform = ? and platform_user_id = ? order by team_id",
            [platform, platform_user_id],
        )
        return [r[0] for r in rows.fetchall()]

    # -- lesson tags -----------------------------------------------------------------------

    def save_lesson_tags(self, rows: list[dict[str, Any]]) -> None:
        """Store computed tags (``course_id``, ``lesson_id``, ``version``, ``keywords`` list, ...)."""
        with self.transaction():
            for row in rows:
                self.db["lesson_tags"].upsert(
                    {
                        **row,
                        "keywords": json.dumps(row["keywords"], ensure_ascii=False),
                        "computed_at": utcnow(),
                    },
                    pk=("course_id", "lesson_id"),
                )

    def lesson_tags(self, course_id: str | None = None) -> list[dict[str, Any]]:
        """Stored tags (keywords decoded), of one course or all."""
        where, args = ("course_id = ?", [course_id]) if course_id else (None, [])
        rows = self.db["lesson_tags"].rows_where(where, args, order_by="course_id, lesson_id")
        return [{**r, "keywords": json.loads(r["keywords"] or "[]")} for r in rows]

    def lesson_accuracy(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Per lesson: (answers, right answers) over every learner's quiz attempts."""
        rows = self.db.execute(
            "select q.course_id, q.lesson_id, count(*), sum(a.correct) from quiz_attempts a "
            "join quiz_items q on q.item_id = a.item_id group by q.course_id, q.lesson_id"
        )
        return {(c, lesson): (int(n), int(right or 0)) for c, lesson, n, right in rows.fetchall()}

    # -- bulk reads for profiles, the recommender and digests ------------------------------

    def done_events(self, learner_ids: Sequence[int] | None = None) -> list[tuple[int, str, str, str]]:
        """``done`` events as (learner, course, lesson, at), oldest first (all learners by default)."""
        sql = "select learner_id, course_id, lesson_id, at from progress_events where kind = 'done'"
        if learner_ids is None:
            return [tuple(r) for r in self.db.execute(sql + " order by at, id").fetchall()]
        result: list[tuple[int, str, str, str]] = []
        for batch in _batches(list(learner_ids)):
            rows = self.db.execute(sql + f" and learner_id in ({_marks(batch)})", list(batch)).fetchall()
            result.extend(tuple(r) for r in rows)
        return sorted(result, key=lambda r: r[3])

    def done_count(self) -> int:
        """How many ``done`` events there are (a cheap check of whether completions grew)."""
        return int(self.db.execute("select count(*) from progress_events where kind = 'done'").fetchone()[0])

    def enrolled_courses(self) -> dict[int, list[str]]:
        """Every learner's enrolled courses (learner id -> course ids, in the order the rows are stored)."""
        courses: dict[int, list[str]] = {}
        for row in self.db.execute("select learner_id, course_id from enrollments").fetchall():
            courses.setdefault(int(row[0]), []).append(row[1])
        return courses

    def team_activity(self, learner_ids: Sequence[int]) -> TeamActivity:
        """What a digest reads about these learners: each table once, in batches of ids."""
        return TeamActivity(
            events=self._bulk_rows(
                "progress_events", "learner_id, course_id, kind, at, lesson_id", learner_ids
            ),
            attempts=self._bulk_rows(
                "quiz_attempts", "learner_id, course_id, correct, at, item_id", learner_ids
            ),
            cards=self._bulk_rows(  # SQLite reads the two card fields recall needs, not Python's json
                "review_cards",
                "learner_id, course_id, json_extract(card, '$.stability'), "
                "json_extract(card, '$.last_review'), due",
                learner_ids,
            ),
            enrolled=self._bulk_rows("enrollments", "learner_id, course_id, enrolled_at", learner_ids),
            asked=self._bulk_rows("questions_log", "learner_id, question, grounded, created_at", learner_ids),
        )

    def insert_activity(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        """Insert many learners' rows at once, table by table, in one transaction.

        For synthetic cohorts (``python -m eval``'s timing runs): ``rows`` maps a table (learners,
        enrollments, progress_events, quiz_attempts, review_cards, questions_log, team_members) to
        its new rows, in the order the tables are to be filled.

        Raises:
            ValueError: a table outside that list.
        """
        unknown = set(rows) - _ACTIVITY_TABLES
        if unknown:
            raise ValueError(f"no bulk insert into {', '.join(sorted(unknown))}")
        with self.transaction():
            for table, new in rows.items():
                self.db[table].insert_all(new, batch_size=2000)

    def _bulk_rows(
        self, table: str, columns: str, learner_ids: Sequence[int], where: str = ""
    ) -> list[tuple]:
        """``columns`` of ``table`` for many learners at once (``where`` adds a condition)."""
        if table not in {"quiz_attempts", "review_cards", "progress_events", "enrollments", "questions_log"}:
            raise ValueError(f"no bulk read of {table}")
        result: list[tuple] = []
        for batch in _batches(list(learner_ids)):
            sql = f"select {columns} from {table} where learner_id in ({_marks(batch)})"
            result.extend(self.db.execute(sql + (f" and {where}" if where else ""), list(batch)).fetchall())
        return result

    def display_names(self, learner_ids: Sequence[int]) -> dict[int, str]:
        """Learners' display names (empty when unknown)."""
        names: dict[int, str] = {}
        for batch in _batches(list(learner_ids)):
            rows = self.db.execute(
                f"select id, display_name from learners where id in ({_marks(batch)})", list(batch)
            )
            names.update({int(i): n or "" for i, n in rows.fetchall()})
        return names
