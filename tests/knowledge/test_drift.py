"""A model answer that ignores its passages refuses the question; one that partly uses them is quoted."""

from __future__ import annotations

from knowledge.answer import QUOTED, REFUSAL, AnswerChain
from knowledge.generation import Turn
from knowledge.support import support_share
from tests.knowledge.test_deadline import Fixed, SlowGenerator, Vocabulary
from tests.knowledge.test_generation import MQTT, QUESTION

# What a small model wrote, shown passages about MQTT, for a question they do not answer.
FROM_MEMORY = (
    "To file your income tax return, first collect your salary statements and receipts. "
    "Then fill in the annual declaration form online and submit it before the deadline. "
    "Keep copies of every document for five years."
)


def chain_writing(*pieces: str, **options: float) -> AnswerChain:
    generator = SlowGenerator(pieces, stall=False)
    return AnswerChain(Fixed(), generator, Vocabulary, threshold=0.0, **options)


TAX = "How do I file my income tax return?"


def test_an_answer_from_the_models_memory_is_a_refusal_with_the_closest_lessons():
    answer = chain_writing(FROM_MEMORY).answer(TAX)  # let through by a threshold of 0
    assert not answer.grounded and not answer.citations
    assert answer.answer.startswith(REFUSAL["en"]) and "refused" in answer.backend
    assert [c.lesson_id for c in answer.closest_lessons] == [MQTT[0].chunk.lesson_id]


def test_passages_that_hold_the_questions_terms_are_quoted_even_when_the_model_drifts():
    # The passages hold "port", "MQTT" and "default": they bear on the question, so quote them.
    answer = chain_writing(FROM_MEMORY).answer(QUESTION)
    assert answer.grounded and answer.answer.endswith(QUOTED["en"])


def test_an_unsupported_answer_that_partly_uses_the_passages_is_still_quoted():
    # Two of its three sentences are invented, but half of its words are the passages' own: the
    # passages bear on the question, so quote them.
    partly = (
        "The broker routes every message to subscribers over TCP. It encrypts messages with quantum "
        "keys. Brokers charge a monthly subscription fee."
    )
    answer = chain_writing(partly).answer(TAX)
    assert answer.grounded and answer.answer.endswith(QUOTED["en"])


def test_a_short_reply_is_too_little_to_judge():
    answer = chain_writing("Forty two.").answer(TAX)
    assert answer.grounded and answer.answer.endswith(QUOTED["en"])


def test_the_rule_can_be_switched_off():
    answer = chain_writing(FROM_MEMORY, drift_refusal=0.0).answer(TAX)
    assert answer.grounded and answer.answer.endswith(QUOTED["en"])


def test_a_supported_answer_is_kept_in_the_models_words():
    answer = chain_writing("MQTT uses port 1883 by default [2].").answer(QUESTION)
    assert answer.grounded and not answer.answer.endswith(QUOTED["en"])


def test_earlier_turns_count_as_held_and_other_languages_are_not_judged():
    earlier = [Turn("How do I file my taxes?", FROM_MEMORY)]
    share, words = support_share(FROM_MEMORY, MQTT, [f"{t.question} {t.answer}" for t in earlier])
    assert share == 1.0 and words >= 10
    assert support_share("MQTT 使用 1883 端口。", MQTT) is None  # a Chinese answer, English passages
    assert support_share(FROM_MEMORY, MQTT)[0] < 0.2


def test_code_in_an_answer_is_not_judged():
    code = "```python\nimport paho.mqtt.client as mqtt\nclient = mqtt.Client()\nclient.connect(host)\n```"
    share, words = support_share(f"Open a connection to the broker on port 1883 [2]:\n{code}", MQTT)
    assert share == 1.0 and words == 5  # open, connection, broker, port, 1883: no names from the code
