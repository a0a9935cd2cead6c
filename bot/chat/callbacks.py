"""What a button sends back when pressed: the callback data of Learnbot's buttons.

Button data is ``prefix:rest``; the router hands ``rest`` to the handler registered for ``prefix``
(:meth:`~bot.chat.router.Router.handle`). The prefixes in use:

| prefix | rest | handled by |
|---|---|---|
| ``lesson`` | ``COURSE`` (or empty: the learner's current course) | :mod:`bot.chat.learning` |
| ``read`` | ``PAGE:COURSE:LESSON`` (or ``PAGE:~DIGEST``) | :mod:`bot.chat.learning` |
| ``done`` | ``COURSE:LESSON`` (or ``~DIGEST``) | :mod:`bot.chat.learning` |
| ``quiz`` | ``next``, or ``ITEM:OPTION`` | :mod:`bot.chat.learning` |
| ``rate`` | ``ATTEMPT:easy`` or ``ATTEMPT:hard`` | :mod:`bot.chat.learning` |
| ``open`` | ``COURSE:LESSON`` (or ``~DIGEST``) | :mod:`bot.chat.recommend` |
| ``feedback`` | ``QUESTION:up`` or ``QUESTION:down`` | :mod:`bot.chat.router` |
| ``premium`` | ``TRACK`` | :mod:`bot.chat.premium` |
| ``forget`` | ``yes:NONCE`` or ``no`` | :mod:`bot.chat.rights` |

Telegram allows 64 bytes of callback data, the least of the platforms: data naming a course or a
lesson that would not fit falls back to a short form, built here.

Example:
    >>> lesson_data("done", "security-basics", "phishing")
    'done:security-basics:phishing'
    >>> page_data(2, "security-basics", "phishing")
    'read:2:security-basics:phishing'
"""

from __future__ import annotations

import hashlib

CALLBACK_LIMIT = 64  # bytes: Telegram's limit on callback data, the tightest of the platforms


def course_data(prefix: str, course_id: str) -> str:
    """Callback data naming a course, or just ``prefix:`` (the learner's own choice) when too long."""
    data = f"{prefix}:{course_id}"
    return data if len(data.encode("utf-8")) <= CALLBACK_LIMIT else f"{prefix}:"


def lesson_data(prefix: str, course_id: str, lesson_id: str) -> str:
    """Callback data naming a lesson: ``prefix:COURSE:LESSON``, or a digest when that is too long."""
    data = f"{prefix}:{course_id}:{lesson_id}"
    if len(data.encode("utf-8")) <= CALLBACK_LIMIT:
        return data
    return f"{prefix}:~{lesson_digest(course_id, lesson_id)}"


def lesson_digest(course_id: str, lesson_id: str) -> str:
    """A short stable name for a lesson, for callback data that would not fit otherwise."""
    return hashlib.sha256(f"{course_id}\x1f{lesson_id}".encode()).hexdigest()[:20]


def page_data(page: int, course_id: str, lesson_id: str) -> str:
    """The "Next section" button's data: ``read:PAGE:COURSE:LESSON`` (or the lesson's digest)."""
    return lesson_data(f"read:{page}", course_id, lesson_id)
