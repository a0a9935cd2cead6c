"""A synthetic cohort in a real store, for timing digests and the learner model at scale.

:func:`populate_store` writes the simulated learners of :func:`recommender.simulate.simulate` (their
courses, enrollments, progress, quiz answers, review cards and a question each) into a
:class:`bot.store.Store`, through the store's own methods.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from bot.store import Store, iso
from recommender.simulate import simulate


def populate_store(store: Store, learners: int, now: datetime, team: str = "everyone", seed: int = 5) -> None:
    """Write ``learners`` simulated learners with a month of activity into ``store``, all in ``team``."""
    rng = random.Random(seed)
    cat, sims, _ = simulate(learners, seed)
    for course_id, course in cat.courses.items():
        store.commit_course(
            {
                "course_id": course.course_id,
                "title": course.title,
                "language": course.language,
                "track": course.track,
                "premium": int(course.premium),
                "description": "",
                "desired_retention": 0.9,
                "source": "",
                "lesson_count": len(cat.lessons[course_id]),
                "chunk_count": 0,
                "ingested_at": iso(now),
            },
            [
                {
                    "lesson_id": r.lesson_id,
                    "title": r.title,
                    "position": r.position,
                    "module": "",
                    "minutes": 10,
                    "prerequisites": r.prerequisites,
                    "version": "v1",
                    "chunk_count": 0,
                    "quiz": [{"question": f"{r.title}?", "options": ["a", "b", "c"], "answer": 0}],
                }
                for r in cat.lessons[course_id]
            ],
        )
    item_of = {(i.course_id, i.lesson_id): i.item_id for i in store.quiz_items()}
    store.create_team(team, team.title())
    start = now - timedelta(days=56)
    people, enrolled, events, attempts, cards, asked, members = [], [], [], [], [], [], []
    for sim in sims:
        n = sim.learner_id
        at = start + timedelta(days=rng.uniform(0, 20))
        people.append({"id": n, "display_name": f"Learner {n}", "language": "en", "created_at": iso(at)})
        members.append({"team_id": team, "learner_id": n, "added_at": iso(at)})
        enrolled += [{"learner_id": n, "course_id": c, "enrolled_at": iso(at)} for c in sim.courses]
        skill = rng.uniform(0.4, 0.95)
        diligence = rng.random()  # the share of due reviews this learner keeps up with
        for course_id, lesson_id in sim.history:
            at += timedelta(days=rng.expovariate(1 / 3))
            if at >= now:
                break
            events.append(
                {
                    "learner_id": n,
                    "course_id": course_id,
                    "lesson_id": lesson_id,
                    "kind": "done",
                    "at": iso(at),
                }
            )
            item = item_of[(course_id, lesson_id)]
            correct = rng.random() < skill
            attempts.append(
                {
                    "learner_id": n,
                    "item_id": item,
                    "course_id": course_id,
                    "chosen": 0 if correct else 1,
                    "correct": int(correct),
                    "rating": 3 if correct else 1,
                    "card_before": "",
                    "at": iso(at),
                }
            )
            stability = rng.uniform(1, 20)
            reviewed = at
            if rng.random() < diligence:  # kept up: reviewed lately, due again after now
                reviewed = max(at, now - timedelta(days=rng.uniform(0, stability / 2)))
            card = {
                "card_id": n,
                "state": 2,
                "step": None,
                "stability": stability,
                "difficulty": 5.0,
                "due": iso(reviewed + timedelta(days=stability)),
                "last_review": iso(reviewed),
            }
            cards.append(
                {
                    "learner_id": n,
                    "item_id": item,
                    "course_id": course_id,
                    "card": json.dumps(card),
                    "due": card["due"],
                    "updated_at": iso(at),
                }
            )
        for question in sim.questions[:1]:
            asked.append(
                {
                    "learner_id": n,
                    "platform": "test",
                    "question": question,
                    "answer": "",
                    "grounded": int(rng.random() > 0.2),
                    "language": "en",
                    "citations": "[]",
                    "latency_ms": 1.0,
                    "feedback": "",
                    "created_at": iso(now - timedelta(days=rng.uniform(0, 6))),
                }
            )
    store.insert_activity(
        {
            "learners": people,
            "enrollments": enrolled,
            "progress_events": events,
            "quiz_attempts": attempts,
            "review_cards": cards,
            "questions_log": asked,
            "team_members": members,
        }
    )
