"""Answers on a deadline, the bounded line of questions, and the answer chain's use of both."""

from __future__ import annotations

import threading
import time

import pytest

from knowledge.answer import QUOTED, AnswerChain
from knowledge.generation.deadline import AnswerLine, LineFull, generate_within
from tests.knowledge.test_generation import MQTT, QUESTION


class SlowGenerator:
    """Writes one piece, then waits (as a model in a long prefill or decode would) until cancelled."""

    name = "local"

    def __init__(self, pieces: tuple[str, ...] = ("MQTT uses ",), stall: bool = True) -> None:
        self.pieces = pieces
        self.stall = stall
        self.cancelled = threading.Event()
        self.finished = threading.Event()

    def generate(self, question, passages, history, language):  # noqa: ANN001, ANN201
        return "".join(self.stream(question, passages, history, language))

    def stream(self, question, passages, history, language, cancel=None):  # noqa: ANN001, ANN201
        try:
            yield from self.pieces
            while self.stall:
                if cancel is not None and cancel.wait(0.01):
                    self.cancelled.set()
                    return
        finally:
            self.finished.set()


class Fixed:
    def retrieve(self, query, k=5, search_filter=None):  # noqa: ANN001, ANN201
        return MQTT[:k]


class Vocabulary:
    def document_frequency(self, term):  # noqa: ANN001, ANN201
        return 0.5

    def co_frequency(self, terms):  # noqa: ANN001, ANN201
        return 0.5

    def size(self):  # noqa: ANN201
        return 2


def test_past_the_deadline_the_generator_is_cancelled_and_the_text_so_far_returned():
    slow = SlowGenerator()
    seen: list[str] = []
    result = generate_within(slow, QUESTION, MQTT, [], "en", 0.2, seen.append)
    assert result.timed_out and result.text == "MQTT uses " and seen == ["MQTT uses "]
    assert slow.cancelled.wait(5) and slow.finished.wait(5)  # no orphan generation


def test_a_generator_that_finishes_in_time_streams_every_piece():
    pieces = ("MQTT uses ", "port 1883 ", "by default [2].")
    seen: list[str] = []
    result = generate_within(SlowGenerator(pieces, stall=False), QUESTION, MQTT, [], "en", 5, seen.append)
    assert not result.timed_out and result.pieces == 3
    assert seen[-1] == result.text == "MQTT uses port 1883 by default [2]."


def test_the_chain_quotes_the_passages_at_the_deadline_and_stops_the_model():
    slow = SlowGenerator()
    chain = AnswerChain(Fixed(), slow, Vocabulary, threshold=0.0, deadline_s=0.3)
    started = time.monotonic()
    answer = chain.answer(QUESTION)
    assert time.monotonic() - started < 5
    assert answer.grounded and answer.citations
    assert answer.answer.endswith(QUOTED["en"]) and answer.backend.startswith("extractive (fallback")
    assert slow.cancelled.wait(5)


def test_the_chain_streams_and_keeps_a_supported_answer():
    pieces = ("By default MQTT ", "uses port 1883 [2].")
    chain = AnswerChain(Fixed(), SlowGenerator(pieces, stall=False), Vocabulary, threshold=0.0)
    seen: list[str] = []
    answer = chain.answer(QUESTION, on_text=seen.append)
    assert len(seen) == 2 and answer.backend == "local"
    assert answer.answer == "By default MQTT uses port 1883 [1]." and answer.citations[0].heading == "Ports"


def test_the_line_says_how_many_are_ahead_and_refuses_beyond_its_bound():
    line = AnswerLine(max_waiting=1)
    release = threading.Event()
    told: list[int] = []

    def first() -> None:
        with line.place():
            release.wait(5)

    def second() -> None:
        with line.place(told.append):
            pass

    runner = threading.Thread(target=first)
    runner.start()
    while line._serving == 0:  # noqa: SLF001 - wait for the first to hold the model
        time.sleep(0.01)
    waiter = threading.Thread(target=second)
    waiter.start()
    while line.waiting == 0:
        time.sleep(0.01)
    with pytest.raises(LineFull), line.place():
        pass
    release.set()
    runner.join(5)
    waiter.join(5)
    assert told == [1] and line.waiting == 0


def test_a_full_line_gets_the_quoted_answer_at_once():
    line = AnswerLine(max_waiting=0)
    slow = SlowGenerator()
    busy = AnswerChain(Fixed(), slow, Vocabulary, threshold=0.0, deadline_s=5, line=line)
    hold = threading.Thread(target=busy.answer, args=(QUESTION,))
    hold.start()
    while line._serving == 0:  # noqa: SLF001
        time.sleep(0.01)
    answer = AnswerChain(Fixed(), SlowGenerator(), Vocabulary, threshold=0.0, line=line).answer(QUESTION)
    assert answer.answer.endswith(QUOTED["en"])
    hold.join(10)
