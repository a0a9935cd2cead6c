"""Answers on a deadline, and a bounded line of questions waiting for the one model.

:func:`generate_within` runs a generator's stream in a worker thread and reads it against a deadline:
each piece goes to ``on_text`` as it comes (for streaming adapters); when the deadline passes first,
the worker is told to stop (the back ends check a ``cancel`` event between tokens, so no generation
outlives its answer) and the caller gets what it has so far with ``timed_out`` set, to quote the
passages instead. :class:`AnswerLine` admits at most ``max_waiting`` questions behind the one being
answered and says how many are ahead of each, so a loaded bot tells learners rather than going silent.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from knowledge.generation.base import Generator, Turn
from knowledge.models import ScoredChunk

_END = object()
TextSink = Callable[[str], None]
"""Receives the answer's raw text so far, each time it grows (a streaming adapter shows it)."""


class LineFull(RuntimeError):
    """More questions are waiting than the line admits; the caller quotes the passages instead."""


@dataclass
class Generated:
    """What a generator wrote before it finished or the deadline passed."""

    text: str
    timed_out: bool = False
    first_piece_s: float | None = None
    pieces: int = 0


def accepts_cancel(generator: Generator) -> bool:
    """Whether ``generator.stream`` takes a ``cancel`` event (the local back ends do)."""
    stream = getattr(generator, "stream", None)
    return stream is not None and "cancel" in inspect.signature(stream).parameters


def generate_within(
    generator: Generator,
    question: str,
    passages: Sequence[ScoredChunk],
    history: Sequence[Turn],
    language: str,
    deadline_s: float,
    on_text: TextSink | None = None,
) -> Generated:
    """Generate with a deadline; past it, cancel the generator and return with ``timed_out``.

    A generator without ``stream`` is called whole in the worker thread (its work cannot be stopped
    early, but the caller is not kept waiting past the deadline).
    """
    started = time.monotonic()
    cancel = threading.Event()
    pieces: queue.Queue = queue.Queue()
    whole: list[str] = []

    def produce() -> None:
        try:
            if hasattr(generator, "stream"):
                options = {"cancel": cancel} if accepts_cancel(generator) else {}
                stream: Iterator[str] = generator.stream(question, passages, history, language, **options)
                try:
                    for piece in stream:
                        pieces.put(piece)
                        if cancel.is_set():
                            break
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()  # stops the model where the back end supports it
            else:  # the whole answer at once: nothing to stream
                whole.append(generator.generate(question, passages, history, language))
        except BaseException as error:  # handed to the reader
            pieces.put(error)
        finally:
            pieces.put(_END)

    worker = threading.Thread(target=produce, name="learnbot-answer", daemon=True)
    worker.start()
    result = Generated("")
    while True:
        left = deadline_s - (time.monotonic() - started)
        try:
            piece = pieces.get(timeout=max(left, 0.0)) if left > 0 else pieces.get_nowait()
        except queue.Empty:
            cancel.set()
            result.timed_out = True
            return result
        if piece is _END:
            if whole:
                result.text, result.pieces = whole[0], 1
            return result
        if isinstance(piece, BaseException):
            raise piece
        if result.first_piece_s is None:
            result.first_piece_s = time.monotonic() - started
        result.text += piece
        result.pieces += 1
        if on_text is not None:
            on_text(result.text)


class AnswerLine:
    """A bounded line for the model: one question answered at a time, ``max_waiting`` more may wait.

    Example:
        >>> line = AnswerLine(max_waiting=8)
        >>> with line.place(lambda ahead: print(f"{ahead} questions ahead of yours")):
        ...     answer = generate_within(...)
    """

    def __init__(self, max_waiting: int = 8, concurrency: int = 1) -> None:
        if max_waiting < 0 or concurrency < 1:
            raise ValueError("max_waiting must be >= 0 and concurrency >= 1")
        self.max_waiting = max_waiting
        self.concurrency = concurrency
        self._lock = threading.Condition()
        self._serving = 0
        self._waiting: list[object] = []

    @property
    def waiting(self) -> int:
        """Questions waiting for their turn now."""
        with self._lock:
            return len(self._waiting)

    @contextmanager
    def place(
        self, on_wait: Callable[[int], None] | None = None, timeout: float | None = None
    ) -> Iterator[None]:
        """Hold a place while the body runs; ``on_wait(ahead)`` is told once if the question must wait.

        Raises:
            LineFull: ``max_waiting`` questions are already waiting, or ``timeout`` passed in line.
        """
        ticket = object()
        with self._lock:
            ahead = 0
            if self._serving >= self.concurrency or self._waiting:
                if len(self._waiting) >= self.max_waiting:
                    raise LineFull(f"{len(self._waiting)} questions are already waiting")
                ahead = len(self._waiting) + self._serving
                self._waiting.append(ticket)
        if ahead and on_wait is not None:
            on_wait(ahead)  # outside the lock: the callback may post a message
        with self._lock:
            if ahead:
                ends = None if timeout is None else time.monotonic() + timeout
                while self._waiting[0] is not ticket or self._serving >= self.concurrency:
                    left = None if ends is None else ends - time.monotonic()
                    if left is not None and left <= 0:
                        self._waiting.remove(ticket)
                        self._lock.notify_all()
                        raise LineFull("waited too long in line")
                    self._lock.wait(left)
                self._waiting.pop(0)
            self._serving += 1
        try:
            yield
        finally:
            with self._lock:
                self._serving -= 1
                self._lock.notify_all()
