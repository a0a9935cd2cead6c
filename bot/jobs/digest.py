"""The weekly manager digest job: each team's managers get its digest once per their local week.

It uses the exactly-once pushes of :mod:`bot.jobs.pushes`: a digest is recorded under the key (manager's
learner record, ``digest``, team, Monday of the manager's week) before it is sent, so reruns and
overlapping runs never send it twice, and a failed send is retried. It is built at send time (the
numbers are fresh) and only while the recipient still manages the team.

Example:
    >>> await send_digests(app.job_deps({"slack": adapter}), datetime.now(UTC))
"""

from __future__ import annotations

from datetime import datetime

from bot.jobs.learning import week_start
from bot.jobs.pushes import (
    JobDeps,
    LocalClock,
    PlannedPush,
    PushKind,
    deliver_pending,
    in_active_hours,
    plan_and_record,
)
from bot.messages import Reply
from bot.reviews import zone
from bot.store import ActiveHours, Push
from recommender.digest import build_digest

DIGEST = "digest"
REACHABLE_BY_USER_ID = frozenset({"telegram", "slack"})
"""Platforms whose adapter can message a user it never talked with, given only the user id: a
Telegram user's private chat id is their user id; the Slack adapter opens the DM
(``conversations.open``). The DM found this way is not recorded as a chat: the manager did not write."""


async def send_digests(deps: JobDeps, now: datetime) -> int:
    """Record this week's digest for every (team, manager) whose hours are open, then send; returns sends.

    Run it hourly: a manager gets each of their teams' digests at the first run of their local week
    that falls in their active hours (normally Monday morning).
    """
    await plan_and_record(deps, plan_digests, now)
    return await deliver_pending(deps, DIGEST_PUSH, now)


def plan_digests(deps: JobDeps, now: datetime) -> list[PlannedPush]:
    """One push per (team, manager) on a platform this process serves, in the manager's active hours."""
    if not deps.adapters:
        return []
    store, clock = deps.store, LocalClock(now)
    planned = []
    for manager in store.team_managers():
        platform, user_id = manager["platform"], manager["platform_user_id"]
        if platform not in deps.adapters:
            continue
        learner_id = store.learner_for(platform, user_id)
        settings = store.learner_settings(learner_id)
        hours = ActiveHours(settings.timezone, settings.active_start, settings.active_end)
        local = clock.local(settings.timezone)
        if settings.paused or not in_active_hours(hours, local):
            continue
        chats = store.push_chats([learner_id], [platform])
        if learner_id in chats:
            chat_id = chats[learner_id][1]
        elif platform in REACHABLE_BY_USER_ID:
            chat_id = user_id  # a manager who never wrote to the bot: see REACHABLE_BY_USER_ID
        else:
            continue
        monday = week_start(local).isoformat()
        planned.append(
            PlannedPush(
                DIGEST, learner_id, manager["team_id"], monday, local.date().isoformat(), platform, chat_id
            )
        )
    return planned


def _digest_reply(deps: JobDeps, push: Push, now: datetime) -> Reply | str:
    store = deps.store
    identities = [i for i in store.identities(push.learner_id) if i["platform"] == push.platform]
    if not any(push.item_id in store.managed_teams(push.platform, i["platform_user_id"]) for i in identities):
        return "no longer a manager of the team"
    if store.team(push.item_id) is None:
        return "the team was removed"
    tz = zone(store.learner_settings(push.learner_id).timezone)
    if week_start(now.astimezone(tz)).isoformat() != push.due:
        return "that week is over"
    digest = build_digest(store, push.item_id, now)
    return Reply(digest.text(), image=digest.chart())


DIGEST_PUSH = PushKind(DIGEST, _digest_reply)
