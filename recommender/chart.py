"""The digest chart: a team's progress over the last weeks, as a PNG (matplotlib, Agg back end)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

WIDTH, HEIGHT, DPI = 8, 4, 100
"""The chart is WIDTH x HEIGHT inches at DPI: 800 x 400 pixels."""


def progress_chart(
    title: str,
    weeks: Sequence[date],
    lessons_done: Sequence[int],
    active: Sequence[int],
    accuracy: Sequence[float | None],
) -> bytes:
    """Bars of lessons completed per week, lines of active learners and quiz accuracy; PNG bytes."""
    fig, left = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    labels = [f"{w:%d %b}" for w in weeks]
    x = list(range(len(weeks)))
    left.bar(x, lessons_done, color="#4C72B0", label="lessons completed")
    left.plot(x, active, color="#DD8452", marker="o", label="active learners")
    left.set_ylabel("count")
    left.set_ylim(0, max(1, *lessons_done, *active) * 1.15)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xticks(x, labels)
    left.set_xlabel("week starting")
    right = left.twinx()
    right.plot(
        x,
        [a * 100 if a is not None else float("nan") for a in accuracy],
        color="#55A868",
        marker="s",
        linestyle="--",
        label="quiz accuracy (%)",
    )
    right.set_ylim(0, 100)
    right.set_ylabel("quiz accuracy (%)")
    handles = left.get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    left.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left", fontsize=8)
    left.set_title(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)  # no tight bbox: the size stays exactly WIDTH x HEIGHT
    plt.close(fig)
    return buffer.getvalue()
