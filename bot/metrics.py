"""Prometheus metrics (prometheus-client), exposed at ``/metrics`` in the HTTP modes.

Each metric is declared once here; the code that does the work increments it.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES = Counter("learnbot_messages_total", "Messages handled", ["platform"])
ANSWER_SECONDS = Histogram(
    "learnbot_answer_seconds",
    "Time to answer a question",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REFUSALS = Counter("learnbot_refusals_total", "Questions the course material did not cover")
PUSHES_SENT = Counter("learnbot_pushes_sent_total", "Scheduled messages delivered", ["kind"])
PAYMENT_EVENTS = Counter(
    "learnbot_payment_events_total",
    "Payment events: invoice, pre_checkout_ok, pre_checkout_refused, paid, duplicate, refund, expired",
    ["event"],
)
