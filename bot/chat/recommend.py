"""Chat side of the learner model: ``/next`` with reasons and its "Open" button, ``/digest`` for managers.

The router registers :meth:`RecommendChat.commands` and :meth:`RecommendChat.buttons`. The content
tags that ``/courses`` and the lesson view show are theirs to render (:mod:`bot.chat.topics`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.chat.callbacks import lesson_data
from bot.chat.context import ChatContext, Handler
from bot.chat.learning import LearningChat
from bot.learning import LearningError
from bot.messages import Button, IncomingMessage, Reply
from bot.store import Store
from bot.store.rows import CourseRow
from recommender.digest import build_digest, may_get_digest
from recommender.recommend import ready
from recommender.service import Recommender

NEXT_SHOWN = 3


class RecommendChat:
    """``/next``, ``/digest`` and the "Open" button.

    Args:
        store: The store.
        learning: The learning chat (its loop opens lessons, and it shows them).
        is_admin: Whether a message's sender is an admin (admins may get any team's digest).
        recommender: The recommender (built by the composition root).
    """

    def __init__(
        self,
        store: Store,
        learning: LearningChat,
        is_admin: Callable[[IncomingMessage], bool],
        recommender: Recommender,
    ) -> None:
        self.store = store
        self.learning = learning
        self.is_admin = is_admin
        self.recommender = recommender

    def commands(self) -> dict[str, Handler]:
        """``/next`` and ``/digest``."""
        return {"next": self.next, "digest": self.digest}

    def buttons(self) -> dict[str, Handler]:
        """The "Open" button of ``/next``."""
        return {"open": self._open}

    # -- /next ---------------------------------------------------------------------------------

    async def next(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/next``: the best next lessons, each with the reason and a button to open it."""
        learner_id = ctx.learner_id
        recs = await asyncio.to_thread(self.recommender.recommend, learner_id, NEXT_SHOWN, ctx.now)
        lessons = [r for r in recs if not r.locked]
        if not lessons:
            text = "Nothing to recommend yet: /courses lists the courses, /enroll COURSE joins one."
            if not self.store.enrollments(learner_id):
                return [Reply(text)]
            return [Reply("You have finished every lesson open to you. /quiz keeps them fresh.")]
        titles = {c.course_id: c.title for c in self.store.courses()}
        lines = ["What to study next:"]
        buttons: list[list[Button]] = []
        for n, rec in enumerate(lessons, 1):
            verb = "Review" if rec.kind == "review" else "Open"
            lines.append(f"{n}. {rec.title} ({titles.get(rec.course_id, rec.course_id)}): {rec.reason}")
            buttons.append(
                [Button(f"{verb}: {rec.title}"[:60], lesson_data("open", rec.course_id, rec.lesson_id))]
            )
        for rec in recs:
            if rec.locked:
                lines.append(f"Premium, locked: {rec.title} ({rec.reason}).")
                course = self.store.course(rec.course_id)
                track = course.track if course else ""
                buttons.append([Button(f"Unlock {rec.title}"[:60], f"premium:{track}"[:64])])
        return [Reply("\n".join(lines), buttons=buttons)]

    async def _open(self, ctx: ChatContext, rest: str) -> list[Reply]:
        """Open a recommended lesson, checking again that the learner may see it and is ready for it."""
        learner_id = ctx.learner_id
        now = ctx.now
        found = self._lesson_for(rest)
        if found is None:
            return [Reply("That button has expired. /next suggests what to study now.")]
        course, lesson = found
        if not self.store.may_see_course(learner_id, course, now):
            return [Reply(f"{course.title} is a premium course. /premium shows how to unlock it.")]
        done = {
            e["lesson_id"]
            for e in self.store.progress_events(learner_id, course.course_id)
            if e["kind"] == "done"
        }
        lessons = self.store.lessons(course.course_id)
        if lesson.lesson_id not in done and lesson.lesson_id not in {
            r.lesson_id for r in ready(lessons, done)
        }:
            return [Reply(f"{lesson.title} builds on lessons you have not finished yet. /next suggests one.")]
        if course.course_id not in self.store.enrollments(learner_id):
            try:
                self.learning.loop.enroll(learner_id, course.course_id, now)
            except LearningError as exc:
                return [Reply(f"Sorry, {exc}.")]
        self.learning.loop.start_lesson(learner_id, course.course_id, lesson.lesson_id, now)
        view = await asyncio.to_thread(self.learning.loop.lesson_view, course, lesson)
        return [await self.learning.lesson_page(view)]

    def _lesson_for(self, rest: str) -> tuple[CourseRow, Any] | None:
        for course in self.store.courses():
            for lesson in self.store.lessons(course.course_id):
                if lesson_data("open", course.course_id, lesson.lesson_id) == f"open:{rest}":
                    return course, lesson
        return None

    # -- /digest -------------------------------------------------------------------------------

    async def digest(self, ctx: ChatContext, argument: str) -> list[Reply]:
        """``/digest [TEAM]``: a team's weekly digest, for its managers and admins only."""
        admin = self.is_admin(ctx.message)
        teams = self.store.managed_teams(ctx.message.platform, ctx.message.user_id)
        team_id = argument.strip() or (teams[0] if len(teams) == 1 else "")
        if not team_id:
            if not teams and not admin:
                return [Reply("Digests are for team managers. Ask an admin to add you as a manager.")]
            listed = teams or [t["team_id"] for t in self.store.list_teams()]
            return [Reply(f"Which team? /digest TEAM, one of: {', '.join(listed) or 'none yet'}.")]
        if not may_get_digest(self.store, team_id, ctx.message.platform, ctx.message.user_id, admin):
            return [Reply("Only the team's managers and admins can see its digest.")]
        if self.store.team(team_id) is None:
            return [Reply(f"There is no team {team_id!r}.")]
        digest = await asyncio.to_thread(build_digest, self.store, team_id, ctx.now)
        return [Reply(digest.text(), image=digest.chart())]
