"""The digest chart: a team's progress over the last weeks, as a PNG (matplotlib, Agg back end)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
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
    fig = progress_figure(title, weeks, lessons_done, active, accuracy)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)  # no tight bbox: the size stays exactly WIDTH x HEIGHT
    plt.close(fig)
    return buffer.getvalue()


def progress_figure(
    title: str,
    weeks: Sequence[date],
    lessons_done: Sequence[int],
    active: Sequence[int],
    accuracy: Sequence[float | None],
) -> Figure:
    """The figure :func:`progress_chart` draws (the caller closes it)."""
    fig, left = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    labels = [f"{w:%d %b}" for w in weeks]
    x = list(range(len(weeks)))
    left.bar(x, lessons_done, color="#4C72B0", label="lessons completed")
    left.plot(x, active, color="#DD8452", marker="o", label="active learners")
    left.set_ylabel("count")
    left.set_ylim(0, max(1, *lessons_done, *active) * 1.15)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xticks(x, labels)
    left.set_xlabel("week starting", fontsize=8)
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
    # The legend sits under the axes, never over the bars (a legend inside hid the tallest weeks).
    fig.legend(
        handles[0] + extra[0], handles[1] + extra[1], loc="lower center", ncol=3, fontsize=8, frameon=False
    )
    left.set_title(title)
    fig.subplots_adjust(left=0.08, right=0.92, top=0.9, bottom=0.26)
    return fig
