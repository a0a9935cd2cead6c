"""Questions that ask what an abbreviation stands for reach the passage that spells it out."""

from __future__ import annotations

import pytest

from bot.testing import TestBot
from knowledge.definitions import asked_abbreviation, expansion_sentence
from knowledge.extractive import ExtractiveGenerator


@pytest.mark.parametrize(
    ("question", "abbreviation"),
    [
        ("What does MQTT stand for?", "MQTT"),
        ("what is IoT short for", "IoT"),
        ("The I in IoT stands for:", "IoT"),
        ("Expand GPIO", "GPIO"),
        ("MQTT 是什么的缩写？", "MQTT"),
        ("SAS 的全称是什么", "SAS"),
        ("What does watering mean?", None),  # a word, not an abbreviation: explain, don't expand
        ("How does MQTT work?", None),
        ("What does the SAS token contain?", None),
    ],
)
def test_an_abbreviation_question_is_told_from_others(question, abbreviation):
    assert asked_abbreviation(question) == abbreviation


def test_the_sentence_that_spells_an_abbreviation_out_is_found():
    text = (
        "MQTT is popular. The most used is Message Queueing Telemetry Transport (MQTT). "
        "You need a digital to analog converter (DAC). GPIO (General Purpose Input Output) pins.\n"
        "Universal asynchronous receiver-transmitter (UART) is old. HTTPS stands for HTTP Secure."
    )
    assert expansion_sentence(text, "MQTT") == "The most used is Message Queueing Telemetry Transport (MQTT)."
    assert "digital to analog converter" in expansion_sentence(text, "DAC")
    assert expansion_sentence(text, "GPIO").startswith("GPIO (General")
    assert expansion_sentence(text, "UART").startswith("Universal")
    assert expansion_sentence(text, "HTTPS") == "HTTPS stands for HTTP Secure."
    assert expansion_sentence("Send it over UART (it is slow).", "UART") is None
    assert expansion_sentence("The broker (MQTT) is slow.", "MQTT") is None


@pytest.mark.slow
def test_what_an_abbreviation_stands_for_is_answered_from_the_passage_that_spells_it_out(
    tmp_path, paired_embedder
):
    course = tmp_path / "messaging"
    course.mkdir()
    uses = "\n".join(
        f"| Compare MQTT to {other} | Compares MQTT and {other} on power and MQTT message persistence |"
        for other in ("HTTP", "AMQP", "CoAP", "WebSockets")
    )
    (course / "01-brokers.md").write_text(
        "# MQTT brokers\n\n## Running an MQTT broker\n\n"
        "An MQTT broker relays MQTT messages. Run the Mosquitto MQTT broker to try MQTT yourself; "
        "MQTT clients subscribe to MQTT topics on the MQTT broker.\n\n"
        f"## Rubric\n\n| Criteria | Exemplary |\n| --- | --- |\n{uses}\n"
    )
    (course / "02-telemetry.md").write_text(
        "# Sending telemetry\n\n## Protocols\n\n"
        "Devices send readings to the cloud over a messaging protocol. A common choice is Message "
        "Queueing Telemetry Transport (MQTT), a lightweight publish and subscribe protocol. Readings "
        "are small and frequent, so the protocol keeps its overhead low.\n"
    )
    # grounding on a two-lesson course is not the point here
    bot = TestBot.build(
        tmp_path / "data", embedder=paired_embedder, generator=ExtractiveGenerator(), grounding_threshold=0.0
    )
    bot.ingest(course)
    answer = bot.app.answers.answer("What does MQTT stand for?")
    assert answer.grounded, answer.answer
    assert answer.citations[0].lesson_id == "02-telemetry"
    assert answer.answer.startswith("A common choice is Message Queueing Telemetry Transport (MQTT)")
