"""Learners and their platform identities, admins, link codes, deliveries and the questions log."""

from __future__ import annotations

import json
from typing import Any

from bot.store.base import StoreBase, utcnow
from bot.store.schema import MERGED_BY_LEARNER


class PeopleStore(StoreBase):
    """Who talks to the bot: the people half of :class:`bot.store.Store`."""

    # -- learners --------------------------------------------------------------------------

    def learner_for(self, platform: str, platform_user_id: str, display_name: str = "") -> int:
        """The learner behind a platform identity, created on first contact."""
        with self.transaction():
            row = self.db.execute(
                "select learner_id from identities where platform = ? and platform_user_id = ?",
                [platform, platform_user_id],
            ).fetchone()
            if row:
                return int(row[0])
            learner_id = (
                self.db["learners"]
                .insert({"display_name": display_name, "language": "", "created_at": utcnow()})
                .last_pk
            )
            self.db["identities"].insert(
                {
                    "platform": platform,
                    "platform_user_id": platform_user_id,
                    "learner_id": learner_id,
                    "created_at": utcnow(),
                }
            )
            return int(learner_id)

    # -- questions log ---------------------------------------------------------------------

    def learner_language(self, learner_id: int) -> str:
        """The language kept with the learner (``""``: unknown, or no such learner)."""
        rows = list(self.db["learners"].rows_where("id = ?", [learner_id]))
        return str(rows[0].get("language") or "") if rows else ""

    def log_question(
        self,
        *,
        learner_id: int | None,
        platform: str,
        question: str,
        answer: str,
        grounded: bool,
        language: str,
        citations: list[dict[str, Any]],
        latency_ms: float,
    ) -> int:
        """Record an answered (or refused) question; returns its id for later feedback."""
        with self.transaction():
            return int(
                self.db["questions_log"]
                .insert(
                    {
                        "learner_id": learner_id,
                        "platform": platform,
                        "question": question,
                        "answer": answer,
                        "grounded": int(grounded),
                        "language": language,
                        "citations": json.dumps(citations, ensure_ascii=False),
                        "latency_ms": latency_ms,
                        "feedback": "",
                        "created_at": utcnow(),
                    }
                )
                .last_pk
            )

    def questions(self, learner_id: int | None = None) -> list[dict[str, Any]]:
        """Logged questions, newest last."""
        if learner_id is None:
            return list(self.db["questions_log"].rows_where(order_by="id"))
        return list(self.db["questions_log"].rows_where("learner_id = ?", [learner_id], order_by="id"))

    def record_feedback(self, question_id: int, learner_id: int, feedback: str) -> bool:
        """Store "up"/"down" on a logged question of this learner; returns whether it was found."""
        with self.transaction():
            cursor = self.db.execute(
                "update questions_log set feedback = ? where id = ? and learner_id = ?",
                [feedback, question_id, learner_id],
            )
            return cursor.rowcount > 0

    # -- deliveries ------------------------------------------------------------------------

    def first_delivery(self, platform: str, delivery_id: str) -> bool:
        """Record a platform delivery; ``False`` when it was seen before (so it is not handled twice)."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into processed_deliveries(platform, delivery_id, created_at) "
                "values (?, ?, ?)",
                [platform, delivery_id, utcnow()],
            )
            return cursor.rowcount == 1

    # -- admins ----------------------------------------------------------------------------

    def add_admin(self, platform: str, platform_user_id: str) -> None:
        """Make a platform user an admin."""
        with self.transaction():
            self.db["admins"].upsert(
                {"platform": platform, "platform_user_id": platform_user_id, "created_at": utcnow()},
                pk=("platform", "platform_user_id"),
            )

    def remove_admin(self, platform: str, platform_user_id: str) -> bool:
        """Revoke an admin; returns whether they were one."""
        with self.transaction():
            cursor = self.db.execute(
                "delete from admins where platform = ? and platform_user_id = ?", [platform, platform_user_id]
            )
            return cursor.rowcount > 0

    def is_admin(self, platform: str, platform_user_id: str) -> bool:
        """Whether a platform user is an admin."""
        row = self.db.execute(
            "select 1 from admins where platform = ? and platform_user_id = ?", [platform, platform_user_id]
        ).fetchone()
        return row is not None

    def admins(self) -> list[dict[str, Any]]:
        """Every admin."""
        return list(self.db["admins"].rows_where(order_by="platform, platform_user_id"))

    # -- linking identities ----------------------------------------------------------------

    def create_link_code(self, learner_id: int, code: str, expires_at: str) -> None:
        """Store a one-time code that lets another platform identity join this learner."""
        with self.transaction():
            self.db["link_codes"].insert(
                {"code": code, "learner_id": learner_id, "expires_at": expires_at, "used_at": ""}
            )

    def redeem_link_code(self, code: str, platform: str, platform_user_id: str, now: str) -> int | None:
        """Join the identity to the code's learner; ``None`` if the code is unknown, used or expired.

        The identity's old learner record is merged: its questions move to the code's learner.
        """
        with self.transaction():
            row = self.db.execute(
                "select learner_id from link_codes where code = ? and used_at = '' and expires_at > ?",
                [code, now],
            ).fetchone()
            if row is None:
                return None
            target = int(row[0])
            self.db.execute("update link_codes set used_at = ? where code = ?", [now, code])
            current = self.db.execute(
                "select learner_id from identities where platform = ? and platform_user_id = ?",
                [platform, platform_user_id],
            ).fetchone()
            if current is not None and int(current[0]) != target:
                old = int(current[0])
                for table in MERGED_BY_LEARNER:
                    # Where both learners hold the same key (an enrollment, a card, settings), the
                    # code's learner keeps theirs and the other row goes.
                    self._move_rows(table, old, target)
                    self.db.execute(f"delete from {table} where learner_id = ?", [old])
                self.db.execute("update identities set learner_id = ? where learner_id = ?", [target, old])
                self.db.execute("delete from learners where id = ?", [old])
            elif current is None:
                self.db["identities"].insert(
                    {
                        "platform": platform,
                        "platform_user_id": platform_user_id,
                        "learner_id": target,
                        "created_at": now,
                    }
                )
            return target

    def _move_rows(self, table: str, old: int, target: int) -> None:
        """Give ``old``'s rows of ``table`` to ``target``, row by row; a row whose key clashes stays."""
        key = self.db.primary_key(table)
        rows = self.db.execute(f"select {', '.join(key)} from {table} where learner_id = ?", [old]).fetchall()
        match = " and ".join(f"{column} = ?" for column in key)
        for row in rows:
            try:
                with self.db.savepoint("move_row"):
                    self.db.execute(f"update {table} set learner_id = ? where {match}", [target, *row])
            except self.db.integrity_errors():
                continue  # the target already holds this key (an enrollment, a card): theirs wins

    def link_failures(self, platform: str, platform_user_id: str, since: str) -> int:
        """Wrong link codes this platform account sent since ``since`` (ISO 8601 UTC)."""
        row = self.db.execute(
            "select count(*) from link_failures where platform = ? and platform_user_id = ? and at >= ?",
            [platform, platform_user_id, since],
        ).fetchone()
        return int(row[0])

    def record_link_failure(self, platform: str, platform_user_id: str, now: str, forget_before: str) -> None:
        """Count a wrong link code; failures older than ``forget_before`` (no longer counted) go."""
        with self.transaction():
            self.db.execute("delete from link_failures where at < ?", [forget_before])
            self.db["link_failures"].insert(
                {"platform": platform, "platform_user_id": platform_user_id, "at": now}
            )

    def identities(self, learner_id: int) -> list[dict[str, Any]]:
        """The platform identities of a learner."""
        return list(self.db["identities"].rows_where("learner_id = ?", [learner_id], order_by="platform"))
