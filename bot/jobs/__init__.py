"""Scheduled jobs: plain ``async def job(deps, now)`` functions, tested with a fixed ``now``.

``pushes`` is the exactly-once machinery every job that messages learners shares (plan, record,
deliver); ``learning`` holds due quizzes, weekly feedback, nudges and the retention job; ``digest``
the managers' weekly digest; ``premium`` the expiry reminders. Each job delivers its own
:class:`~bot.jobs.pushes.PushKind`: nothing is registered by importing a module.
:mod:`bot.scheduler` only wires triggers to these jobs.
"""
