"""Quiz drafting without the bot: parsing the model's JSON, each check, the drafters, the run loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.cloze import ClozeDrafter
from knowledge.keyterms import CourseTerms
from knowledge.keyword import KeywordIndex
from knowledge.models import Chunk
from knowledge.quiz_llm import LLMDrafter, first_json_object, parse_item
from knowledge.quizgen import BLANK, Checker, DraftItem, DraftRejected, draft_items, pick_chunks
from tests.knowledge.test_generation import fake_openai, openai_generator  # noqa: F401 - a fixture


def chunk(text: str, lesson: str = "mqtt", n: int = 0, title: str = "MQTT basics") -> Chunk:
    return Chunk(f"{lesson}-{n}", text, "iot", lesson, title, "Overview", f"{lesson}.md", "en", position=n)


MQTT = chunk(
    "MQTT is a lightweight publish/subscribe messaging protocol designed for unreliable networks. "
    "A broker routes every message from publishers to subscribers. The default MQTT port is 1883, "
    "and port 8883 is used for MQTT over TLS."
)
GOOD = {
    "question": "Which component routes every MQTT message from publishers to subscribers?",
    "options": ["The broker", "The router", "The sensor", "The cloud console"],
    "answer": 0,
    "explanation": "A broker routes every message.",
}


def item(**changes: object) -> DraftItem:
    data = {**GOOD, **changes}
    return DraftItem(
        data["question"], tuple(data["options"]), data["answer"], data["explanation"], MQTT, "test"
    )


# -- parsing -----------------------------------------------------------------------------------------


def test_parses_a_good_json_item():
    question, options, answer, explanation = parse_item(json.dumps(GOOD))
    assert (question, options, answer, explanation) == (
        GOOD["question"],
        GOOD["options"],
        0,
        "A broker routes every message.",
    )


def test_parses_json_with_prose_and_a_code_fence_around_it():
    reply = f'Sure, here it is:\n```json\n{json.dumps(GOOD)}\n```\nAnd {{"another": "object"}} after.'
    assert parse_item(reply)[0] == GOOD["question"]
    assert first_json_object('[1, 2] then {"a": {"b": 1}} then {"c": 2}') == {"a": {"b": 1}}
    assert first_json_object("{not json} {broken") is None


@pytest.mark.parametrize(
    ("answer", "index"), [(2, 2), ("1", 1), ("C", 2), ("the sensor", 2), ("The broker.", 0)]
)
def test_the_answer_may_be_an_index_a_letter_or_the_option_text(answer, index):
    assert parse_item(json.dumps({**GOOD, "answer": answer}))[2] == index


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        ("The answer is the broker.", "no JSON object"),
        ('{"question": "What routes messages?", "options": ["a", "b"', "no JSON object"),  # cut off
        (json.dumps({**GOOD, "question": " "}), "no question"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "options"}), "options"),
        (json.dumps({**GOOD, "options": "broker, router"}), "options"),
        (json.dumps({**GOOD, "answer": 7}), "names no option"),
        (json.dumps({**GOOD, "answer": "the moon"}), "names no option"),
        (json.dumps({**GOOD, "answer": True}), "names no option"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "answer"}), "names no option"),
    ],
)
def test_malformed_replies_are_rejected_with_a_reason(reply, detail):
    with pytest.raises(DraftRejected) as rejected:
        parse_item(reply)
    assert rejected.value.reason == "malformed" and detail in rejected.value.detail


# -- checks ------------------------------------------------------------------------------------------


def reason(draft: DraftItem, existing: list[str] | None = None) -> str | None:
    try:
        Checker(existing or []).check(draft)
    except DraftRejected as rejected:
        return rejected.reason
    return None


def test_a_good_item_passes():
    assert reason(item()) is None


def test_an_answer_the_chunk_does_not_support_is_rejected():
    draft = item(options=["A message queue in the cloud", "The broker", "The sensor"], answer=0)
    assert reason(draft) == "unsupported"
    assert reason(item(options=["1883", "8883", "443"], answer=0)) is None, "numbers in the chunk count"
    assert reason(item(options=["502", "1883", "8883"], answer=0)) == "unsupported"


@pytest.mark.parametrize(
    "options",
    [
        ["The broker", "the  BROKER", "The sensor"],  # case and whitespace folded
        ["The broker", "The broker.", "The sensor"],
        ["The broker", "The sensor"],  # too few
        ["The broker", "a", "b", "c", "d"],  # too many
        ["The broker", " ", "The sensor"],
    ],
)
def test_options_must_be_three_or_four_and_distinct(options):
    assert reason(item(options=options, answer=0)) == "options"


def test_a_question_that_gives_its_answer_away_is_trivial():
    copied = "A broker routes every message from publishers to subscribers?"
    assert reason(item(question=copied, options=["A broker", "A router", "A sensor"])) == "trivial"
    assert reason(item(question=f"Fill in the blank: The {BLANK} routes every message.")) is None
    assert reason(item(question="The broker.")) == "trivial", "not a question"
    assert reason(item(question=f"Fill in the blank: brokers route every {BLANK}.")) == "trivial"


def test_a_duplicate_of_an_existing_question_is_rejected():
    assert reason(item(), [GOOD["question"].upper() + "  "]) == "duplicate"
    near = "Which component routes every MQTT message from the publishers to the subscribers?"
    assert reason(item(), [near]) == "duplicate", "a high token overlap"
    assert reason(item(), ["Which port does MQTT use by default?"]) is None
    checker = Checker()
    checker.check(item())
    checker.add(GOOD["question"])
    with pytest.raises(DraftRejected, match="duplicate"):
        checker.check(item())


# -- drafters ----------------------------------------------------------------------------------------


class FakeModel:
    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list, int | None, str]] = []

    def chat(self, messages, max_new_tokens=None, prefix="", stop=()):  # noqa: ANN001
        self.calls.append((list(messages), max_new_tokens, prefix))
        return self.replies.pop(0)


class PrefillingModel:
    """Like the local model: continues the reply it is given, stopping at the first stop string."""

    prefills = True

    def __init__(self, fields: list[str]) -> None:
        self.fields = list(fields)
        self.prefixes: list[str] = []

    def chat(self, messages, max_new_tokens=None, prefix="", stop=()):  # noqa: ANN001
        self.prefixes.append(prefix)
        text = self.fields.pop(0)
        cut = min([text.find(s) for s in stop if s in text], default=len(text))
        return prefix + text[:cut]


def test_the_llm_drafter_sends_the_passage_and_parses_the_reply():
    model = FakeModel([json.dumps(GOOD)])
    draft = LLMDrafter(model).draft(MQTT)
    assert (draft.question, draft.correct, draft.drafter, draft.chunk) == (
        GOOD["question"],
        "The broker",
        "llm",
        MQTT,
    )
    assert sorted(draft.options) == sorted(GOOD["options"]), "shuffled: models put the right one first"
    messages, _, prefix = model.calls[0]
    assert [m.type for m in messages] == ["system", "human", "ai", "human"], "one worked example"
    assert "JSON" in messages[0].content and MQTT.text in messages[-1].content
    assert "MQTT basics > Overview" in messages[-1].content
    assert prefix == "", "a server writes the whole reply"
    chinese = LLMDrafter(model).messages(
        Chunk("z", "MQTT 是一种轻量级协议。", "iot", "m", "MQTT", "", "m.md", "zh")
    )
    assert "Simplified Chinese" in chinese[0].content


def test_a_prefilling_model_is_guided_through_the_json_one_field_at_a_time():
    model = PrefillingModel(
        [
            "Which component routes MQTT messages?",
            "The broker",
            "The router",
            'The cloud\\" she said',
            "A broker routes.",
        ]
    )
    draft = LLMDrafter(model).draft(MQTT)
    assert draft.question == "Which component routes MQTT messages?" and draft.correct == "The broker"
    assert set(draft.options) == {"The broker", "The router", "The cloud"}, "cut at the quote, no backslash"
    assert draft.explanation == "A broker routes."
    assert model.prefixes[0] == '{"question": "'
    assert model.prefixes[1].endswith('"options": ["') and model.prefixes[-1].endswith('"explanation": "')
    assert json.loads(model.prefixes[-1] + 'x"}')["answer"] == 0, "the prefix is JSON all along"


COURSE = [
    chunk(
        "A thermistor is a resistor whose resistance changes with temperature. Sensors like the "
        "thermistor turn the physical world into signals. A microcontroller reads the thermistor.",
        "sensors",
        0,
        "Sensors",
    ),
    chunk(
        "A relay is an electrically operated switch. A relay lets a small current switch a large current. "
        "An actuator such as a relay or a motor acts on the physical world.",
        "actuators",
        0,
        "Actuators",
    ),
    chunk(
        "A broker routes every message from publishers to subscribers. The broker keeps no messages. "
        "Every client connects to the broker over TCP.",
        "mqtt",
        0,
    ),
    chunk("A gateway forwards messages between a radio network and the internet.", "mqtt", 1),
    chunk("```python\nprint('only code here')\n```", "mqtt", 2),
]


def test_the_cloze_drafter_asks_for_a_defined_term_with_same_kind_distractors():
    drafter = ClozeDrafter(COURSE, KeywordIndex(COURSE))
    draft = drafter.draft(COURSE[0])
    assert draft.drafter == "extractive"
    assert (
        draft.question
        == 'Which term does the lesson define as "a resistor whose resistance changes with temperature"?'
    )
    assert draft.correct == "thermistor" and "thermistor" not in draft.question
    assert len(draft.options) >= 3 and len({o.lower() for o in draft.options}) == len(draft.options)
    assert all(o.islower() and " " not in o for o in draft.options), "nouns for a noun"
    assert "thermistor" in draft.explanation, "the explanation quotes the lesson's sentence"
    Checker().check(draft)
    assert drafter.draft(COURSE[0]) == draft, "deterministic"


IOT = [
    chunk(
        "You can use Azure Maps to draw a delivery route on a map for your drivers. Azure Maps also "
        "draws geofences. An IoT Hub receives telemetry from every device in the fleet.",
        "maps",
    ),
    chunk(
        "Azure Functions run your code in the cloud when an event arrives. An IoT Hub routes messages "
        "to Azure Functions and to Azure Storage. Azure Storage keeps the telemetry.",
        "functions",
    ),
    chunk(
        "The image above shows the thermistor wired to the relay. People use the relay every day. "
        "The Translator service is a dedicated translation service for many languages. "
        "Consumer devices write Comma Separated Values to a CSV file.",
        "mixed",
    ),
    *COURSE[:4],
]


def test_which_would_you_use_asks_for_a_name_among_names_of_the_course():
    draft = ClozeDrafter(IOT, KeywordIndex(IOT)).draft(IOT[0])
    assert draft.question == "Which would you use to draw a delivery route on a map for your drivers?"
    assert draft.correct == "Azure Maps"
    assert all(o[0].isupper() for o in draft.options), "names for a name: no relay or thermistor"
    Checker().check(draft)


def test_drafts_never_blank_common_words_point_at_figures_or_leak_their_answer():
    drafter = ClozeDrafter(IOT, KeywordIndex(IOT))
    with pytest.raises(DraftRejected) as rejected:  # every sentence fails one rule of the rubric
        drafter.draft(IOT[2])
    assert rejected.value.reason == "no_candidate"
    figure = item(question=f"Fill in the blank: In the image above the {BLANK} routes every message.")
    assert reason(figure) == "figure"
    people = item(
        question=f"Fill in the blank: {BLANK} use the broker.", options=["People", "Sensor", "Cloud"]
    )
    assert reason(people) == "filler"
    mixed = IOT[2]

    def on_mixed(question: str, options: list[str]) -> str | None:
        return reason(DraftItem(question, tuple(options), 0, "", mixed, "test"))

    stem = f"Fill in the blank: The Translator service is a dedicated {BLANK} service."
    assert on_mixed(stem, ["translation", "relay", "thermistor"]) == "trivial", "the stem gives it away"
    expansion = f"Fill in the blank: Consumer devices write Comma Separated Values to a {BLANK} file."
    assert on_mixed(expansion, ["CSV", "JSON", "XML"]) == "trivial", "the expansion gives it away"
    assert (
        on_mixed(f"Fill in the blank: Consumer devices write to a {BLANK} file.", ["CSV", "JSON", "XML"])
        is None
    )


def test_an_option_that_stands_out_by_length_or_kind_is_a_giveaway():
    long = ["The broker that routes every message", "The router", "The sensor"]
    assert reason(item(options=long, answer=0)) == "giveaway"
    mixed = ["broker", "Azure", "AWS", "GCP"]
    assert reason(item(options=mixed, answer=0)) == "giveaway", "a word among names"


def test_key_terms_are_nouns_compounds_and_names_and_chinese_compounds_stay_whole():
    course = CourseTerms(IOT)
    found = {
        t.surface: t.kind for t in course.terms("The broker sends telemetry to Azure Functions quickly.")
    }
    assert found["broker"] == "noun" and found["Azure Functions"] == "name"
    assert "sends" not in found and "quickly" not in found
    code = {t.surface for t in course.terms("Open `config.py` at https://example.com and set the MQTT port.")}
    assert "config.py" not in code and "MQTT" in code and "Open" not in code
    chinese = [t.surface for t in course.terms("请使用密码管理器保存每个账户的密码。")]
    assert "密码管理器" in chinese and "管理器" not in chinese


def test_draft_items_falls_back_and_reports_every_rejection_by_reason():
    replies = [
        "I cannot write JSON today.",  # malformed -> the cloze drafter takes this chunk
        json.dumps({**GOOD, "options": ["A", "a", "b"]}),  # duplicate options -> fallback too
        json.dumps(GOOD),
    ]
    cloze = ClozeDrafter(COURSE, KeywordIndex(COURSE))
    run = draft_items([COURSE[0], COURSE[1], COURSE[2]], LLMDrafter(FakeModel(replies)), Checker(), cloze)
    assert run.chunks == 3 and len(run.accepted) == 3
    assert run.by_drafter() == {"extractive": 2, "llm": 1}
    assert run.rejected("llm") == {"malformed": 1, "options": 1}
    assert [r.chunk_id for r in run.rejections] == [COURSE[0].chunk_id, COURSE[1].chunk_id]

    alone = draft_items([COURSE[4]], LLMDrafter(FakeModel(["no"])), Checker())
    assert alone.accepted == [] and alone.rejected() == {"malformed": 1}


def test_pick_chunks_takes_lessons_in_turn_and_skips_what_is_done():
    chunks = [
        chunk("A sentence of prose long enough to count as something to ask about. " * 3, lesson, n)
        for lesson in ("one", "two", "three")
        for n in range(3)
    ]
    chunks.append(Chunk("page", "b " * 200, "iot", "", "Readme", "", "README.md", "en"))
    picked = pick_chunks(chunks, 5, skip=["one-0"])
    assert [c.chunk_id for c in picked] == ["one-1", "two-0", "three-0", "one-2", "two-1"]
    assert pick_chunks(chunks, 10, min_chars=10_000) == []


# -- the real local model ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_real_local_model_drafts_through_the_whole_pipeline(tmp_path_factory):
    """SmolLM2-135M may well fail the checks: the pipeline must run and report, whatever it writes."""
    from knowledge.local_llm import LocalGenerator

    model = LocalGenerator(Path(tmp_path_factory.mktemp("llm")), max_new_tokens=60)
    cloze = ClozeDrafter(COURSE, KeywordIndex(COURSE))
    run = draft_items(COURSE[:1], LLMDrafter(model, max_new_tokens=60), Checker(), cloze)
    assert run.chunks == 1
    assert len(run.accepted) + len(run.rejected("extractive")) == 1, "every chunk ends accepted or reported"
    assert sum(run.rejected("llm").values()) == 1 - run.by_drafter()["llm"]
    for draft in run.accepted:
        Checker().check(draft)


def test_an_openai_compatible_server_gets_the_quiz_prompt_in_one_request(fake_openai):  # noqa: F811
    """A server's model writes the whole JSON itself (no guiding); its reply goes through the parser."""
    model = openai_generator(fake_openai)
    assert not model.prefills
    with pytest.raises(DraftRejected, match="malformed"):  # the fake server answers in prose
        LLMDrafter(model, max_new_tokens=200).draft(MQTT)
    [request] = fake_openai.requests
    body = request["body"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert MQTT.text in body["messages"][-1]["content"]
    assert 200 in (body.get("max_tokens"), body.get("max_completion_tokens"))


@pytest.mark.parametrize(
    "sentence",
    [
        "The ribbon cable comes into the bottom of the camera, so you can change this line to the rotation.",
        "An example is an engine (the thing) sending temperature data to the cloud.",
        "The button will be greyed out whilst training, and be re-enabled once done.",
        "A number of these use intermediate representations of the language to translate it.",
        "Follow the steps in the previous few lessons to set up a virtual IoT device.",
    ],
)
def test_sentences_that_lean_on_unseen_context_or_describe_a_screen_are_not_quizzed(sentence):
    from knowledge.cloze import good_sentence

    assert not good_sentence(sentence)
    assert good_sentence("Microcontrollers are designed to be programmed to do a limited number of tasks.")


def test_a_term_in_the_place_of_a_verb_is_not_blanked():
    # "You can tag a single object": blanking "tag" after a modal asks for a verb among nouns.
    from knowledge.keyterms import Term

    text = "Object detection models tag objects in images. Each tag names a product on the shelf."
    chunks = [Chunk(f"c{n}", text, "c", f"l{n}", f"Lesson {n}", "Tags", "f.md", "en") for n in range(3)]
    drafter = ClozeDrafter(chunks, KeywordIndex(chunks))
    sentence = "You can tag a single object in an image or many."
    start = sentence.index("tag")
    assert not drafter._stands_alone(sentence, Term("tag", "tag", "noun", start, start + 3))
    sentence = "Each tag names a product on the shelf."
    start = sentence.index("tag")
    assert drafter._stands_alone(sentence, Term("tag", "tag", "noun", start, start + 3))
