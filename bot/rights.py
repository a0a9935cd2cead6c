"""Learner data rights: export everything stored about one learner, and erase it.

The SQL lives in :mod:`bot.store.rights` (tables found from the schema). This module adds what is
not in SQLite: the export file's shape, a ``forget`` call for what is held in memory (the router's
:meth:`~bot.chat.router.Router.forget`: follow-up memory, rate-limit windows, quiz answers it is waiting
for, and the caches of adapters and the recommender) No learner data sits in the vector index
(only course material goes there: admins' uploads become course chunks whose metadata names the
course, lesson and file, never the uploader); the tests check that after an erase.

Example:
    >>> data = export_learner(app.store, 12)
    >>> report = erase_learner(app.store, 12, forget=app.bot.forget)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.store import Store
from bot.store.rights import PSEUDONYMISED, EraseReport

log = logging.getLogger(__name__)
EXPORT_FORMAT = "learnbot-learner-export/1"
PAGE = 2000


class UnknownLearner(LookupError):
    """No learner with that id or platform identity."""


def _decoded(value: Any) -> Any:
    """JSON held in a text column (citations, options, review cards) as JSON, not as a string."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, bytes):
        return value.hex()
    return value


def export_learner(store: Store, learner_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Everything stored about a learner, table by table, as a JSON-ready dict.

    Raises:
        UnknownLearner: no such learner.
    """
    tables = store.learner_rows(learner_id)
    if "learners" not in tables:
        raise UnknownLearner(f"no learner with id {learner_id}")
    return {
        "format": EXPORT_FORMAT,
        "exported_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "learner_id": learner_id,
        "identities": [
            {"platform": r["platform"], "user_id": r["platform_user_id"]}
            for r in tables.get("identities", [])
        ],
        "tables": {
            name: [{k: _decoded(v) for k, v in row.items()} for row in rows] for name, rows in tables.items()
        },
        "notes": (
            "Every row Learnbot stores about you, by table. Payment records are kept after /forget as "
            "the law requires, without anything that points back to you."
        ),
    }


def export_json(store: Store, learner_id: int, now: datetime | None = None) -> bytes:
    """:func:`export_learner` as UTF-8 JSON bytes (the ``/mydata`` file)."""
    return json.dumps(export_learner(store, learner_id, now), ensure_ascii=False, indent=2).encode("utf-8")


def erase_learner(
    store: Store, learner_id: int, forget: Callable[[EraseReport], object] | None = None
) -> EraseReport:
    """Delete the learner's rows on every linked identity (ledger rows pseudonymised).

    ``forget``, when given, is called with the report so what is held in memory about the learner
    goes too (in the bot: :meth:`bot.chat.router.Router.forget`).

    Raises:
        UnknownLearner: no such learner.
    """
    if store.resolve_learner(str(learner_id)) is None:
        raise UnknownLearner(f"no learner with id {learner_id}")
    report = store.erase_learner(learner_id)
    if forget is not None:
        forget(report)
    log.info(
        "learner %s erased: %d rows deleted, %d ledger rows pseudonymised",
        learner_id,
        report.rows_deleted,
        report.payments_kept,
    )
    return report


def erase_message(report: EraseReport) -> str:
    """What the learner is told after ``/forget``."""
    text = (
        f"Done: I deleted everything I stored about you ({report.rows_deleted} records on "
        f"{len(report.identities) or 1} linked account{'s' if len(report.identities) > 1 else ''}): "
        "progress, quiz answers, review cards, questions, settings and entitlements."
    )
    if report.payments_kept:
        text += (
            f" Your {report.payments_kept} payment record{'s are' if report.payments_kept > 1 else ' is'} "
            "kept, as the law requires for bookkeeping, but no longer linked to you in any way."
        )
    return text + " If you write to me again, I will start afresh."


__all__ = [
    "PSEUDONYMISED",
    "EraseReport",
    "UnknownLearner",
    "erase_learner",
    "erase_message",
    "export_json",
    "export_learner",
]
