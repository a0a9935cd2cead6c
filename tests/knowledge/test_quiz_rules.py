"""The teacher's rubric for generated quiz items, rule by rule (issue 16 item 2).

Each test feeds the model-free drafter or the checks a small course that breaks one rule and asserts
that no draft breaks it: figures, sentences that lean on context, quoted examples, split compounds,
answers that stand in their own question, definition items, same-kind distractors.
"""

from __future__ import annotations

import pytest

from knowledge.cloze import ClozeDrafter, good_sentence
from knowledge.keyterms import CourseTerms, chinese_terms
from knowledge.keyword import KeywordIndex
from knowledge.models import Chunk
from knowledge.quizgen import BLANK, Checker, DraftItem, DraftRejected
from knowledge.quizrubric import answer_leak, filler_blank, leans_on_context, split_blank


def chunk(text: str, lesson: str, n: int = 0, language: str = "en") -> Chunk:
    return Chunk(f"{lesson}-{n}", text, "c", lesson, lesson.title(), "Basics", f"{lesson}.md", language)


HARDWARE = [
    chunk(
        "A relay is an electrically operated switch that turns a pump on and off. The relay clicks when "
        "the pin goes high. A pump moves water from the tank to the plant.",
        "relays",
    ),
    chunk(
        "A device that turns an electrical signal into movement is called an actuator. "
        "The actuator drives the valve. A valve controls the flow of water to the plant.",
        "actuators",
    ),
    chunk(
        "A thermistor is a resistor whose resistance changes with temperature. The thermistor sits in "
        "the soil. A sensor reads the soil and sends telemetry to the broker.",
        "sensors",
    ),
    chunk(
        "The broker routes telemetry from the sensor to the server. The server stores telemetry in a "
        "database. A database keeps every reading of the sensor.",
        "servers",
    ),
]


def drafter(chunks: list[Chunk]) -> ClozeDrafter:
    return ClozeDrafter(chunks, KeywordIndex(chunks))


def test_a_sentence_about_a_figure_is_never_drafted():
    figure = chunk(
        "The diagram below shows the relay wired to the pump. As you can see in the image, the relay "
        "sits between the pump and the power supply.",
        "relays",
        1,
    )
    course = [*HARDWARE, figure]
    with pytest.raises(DraftRejected) as rejected:
        drafter(course).draft(figure)
    assert rejected.value.reason == "no_candidate"
    assert not good_sentence("如图所示，继电器连接在水泵和电源之间，控制水泵的开关。")


def test_a_definitional_sentence_gives_a_definition_item_whose_question_never_holds_the_answer():
    draft = drafter(HARDWARE).draft(HARDWARE[1])
    assert draft.question == (
        'Which term does the lesson define as "a device that turns an electrical signal into movement"?'
    )
    assert draft.correct == "actuator" and "actuator" not in draft.question.lower()
    assert answer_leak(draft.question, draft.correct) == ""
    Checker().check(draft)


def test_a_chinese_definitional_sentence_gives_a_definition_item():
    chunks = [
        chunk("继电器是一种由电信号控制的电动开关。一个继电器可以控制水泵。", "relays", 0, "zh"),
        chunk("一个传感器读取土壤的湿度。这个传感器把数据发送到服务器。", "sensors", 0, "zh"),
        chunk("一个执行器把电信号变成动作。这个执行器控制阀门和水泵。", "actuators", 0, "zh"),
        chunk("一个服务器保存所有的读数。这个服务器运行在云端，也连接数据库。", "servers", 0, "zh"),
    ]
    draft = drafter(chunks).draft(chunks[0])
    assert draft.question == "课程中哪个术语指的是「由电信号控制的电动开关」？"
    assert draft.correct == "继电器" and "继电器" not in draft.question
    assert all(len(option) >= 2 for option in draft.options)


def test_the_answer_never_stands_elsewhere_in_its_item():
    course = drafter(HARDWARE)
    for source in HARDWARE:
        try:
            draft = course.draft(source)
        except DraftRejected:
            continue
        asked = draft.question.replace(BLANK, " ").lower()
        assert draft.correct.lower() not in asked, draft.question
        assert draft.question.count(BLANK) <= 1, "one blank for one answer"


@pytest.mark.parametrize(
    "sentence",
    [
        "这些车辆连接到中央系统，报告其位置和其他传感器数据。",
        "例如，数字温度传感器仍然会像模拟传感器一样工作。",
        "点击复选框，并输入你的网络名称和密码。",
        "In this notebook, for example, you can change the base temperature.",
    ],
)
def test_sentences_that_lean_on_context_or_are_steps_are_not_quizzed(sentence):
    assert not good_sentence(sentence)


@pytest.mark.parametrize(
    "step",
    [
        "From the Settings section of the relay page, copy the relay id into the telemetry code.",
        "Replace the relay in the circuit with the pump before you send telemetry.",
    ],
)
def test_an_instruction_is_never_blanked(step):
    steps = chunk(step, "relays", 1)
    with pytest.raises(DraftRejected):
        drafter([*HARDWARE, steps]).draft(steps)


def test_an_opening_verb_used_as_a_noun_still_states_a_fact():
    fact = chunk(
        "Check digits are added to a barcode so that a reader can detect a misread barcode.", "codes"
    )
    course = drafter([*HARDWARE, fact, chunk("A barcode reader reads each barcode.", "codes", 1)])
    assert course.draft(fact).chunk is fact


def test_a_quoted_example_is_never_blanked():
    course = [
        chunk(
            'Users say "Start a timer for my tea" to the speaker on the kitchen shelf. '
            "A timer counts down and the speaker plays an alarm. The speaker listens for a wake word.",
            "timers",
        ),
        *HARDWARE,
    ]
    try:
        draft = drafter(course).draft(course[0])
    except DraftRejected:
        return
    assert "Start a" not in draft.question or "timer" in draft.question, draft.question


def test_chinese_blanks_keep_compounds_and_words_whole():
    whole = {t.surface: t.whole for t in chinese_terms("使用对象检测器时，你会获得对象的边界框。")}
    assert whole.get("边界") is not True, "边界 of 边界框 is part of a word"
    assert {t.surface: t.whole for t in chinese_terms("然后使用Arduino框架进行编程。")}["框架"] is False
    glued = {t.surface for t in chinese_terms("使用对模型进行训练的方法。")}
    assert "模型" in glued, "no preposition glued on"
    assert "事情" not in {t.surface for t in chinese_terms("设备 SDK 会处理所有事情。")}, "a common word"
    assert filler_blank("事情")


def test_split_or_repeated_blanks_and_context_are_rejected_by_the_checks():
    relay = HARDWARE[0]

    def reason(question: str) -> str | None:
        draft = DraftItem(question, ("relay", "valve", "broker"), 0, "", relay, "test")
        try:
            Checker().check(draft)
        except DraftRejected as rejected:
            return rejected.reason
        return None

    assert split_blank(f"The {BLANK} clicks and the {BLANK} switches.") == "2 blanks for one answer"
    assert reason(f"Fill in the blank: The {BLANK} clicks and the {BLANK} switches the pump.") == "split"
    assert reason(f"Fill in the blank: The Grove{BLANK} switches the pump on.") == "split"
    assert leans_on_context(f'Fill in the blank: "These {BLANK}s switch the pump on."') == "These"
    assert reason(f'Fill in the blank: "It is a(n) {BLANK} that switches the pump."') == "context"
    assert answer_leak(f"Relational Database Management Systems ({BLANK}) store rows.", "RDBMS")
    # a Chinese answer given away by the English term the sentence keeps beside it
    assert answer_leak(f"填空：边界框的{BLANK}为240像素，因此 height 值为0.3。", "高度") == "height"
    assert answer_leak(f"填空：边界框的{BLANK}为240像素。", "高度") == ""
    assert reason(f"Fill in the blank: The {BLANK} switches the pump on and off.") is None


def test_an_item_with_more_than_one_right_option_is_rejected():
    # a model asked for wrong options copies the passage's list, or marks the wrong one
    box = chunk(
        "The values of a bounding box are top, left, height and width.\n\nCommon IoT radios:\n"
        "- WiFi\n- Bluetooth\n- Zigbee\n\nA thermistor measures temperature.",
        "boxes",
    )

    def reason(question: str, options: tuple[str, ...], explanation: str = "") -> str | None:
        try:
            Checker().check(DraftItem(question, options, 0, explanation, box, "test"))
        except DraftRejected as rejected:
            return rejected.reason
        return None

    assert reason("Which value does a bounding box hold?", ("width", "top", "left")) == "ambiguous"
    assert reason("Which radio do IoT devices use?", ("WiFi", "Bluetooth", "Zigbee")) == "ambiguous"
    backed = "A thermistor measures humidity."
    assert (
        reason("What does a thermistor measure?", ("temperature", "humidity", "light"), backed) == "ambiguous"
    )
    # one term beside the answer is a fair distractor; a blank asks for its own sentence's word
    assert reason("Which value does a bounding box hold?", ("width", "height", "colour")) is None
    assert (
        reason(f"Fill in the blank: The values of a {BLANK} are top and left.", ("box", "top", "left"))
        is None
    )
    assert reason("What does a thermistor measure?", ("temperature", "humidity", "light")) is None


def test_distractors_are_terms_the_course_uses_like_the_answer():
    course = [
        *HARDWARE,
        chunk(
            "A banana is a yellow fruit. The banana grows in bunches. A banana ripens in the sun.",
            "fruit",
        ),
        chunk("The pump and the valve and the relay sit in the greenhouse beside the plant.", "wiring"),
    ]
    picker = drafter(course)
    terms = CourseTerms(course)
    relay, valve, banana = (terms.pool["noun"][key] for key in ("relay", "valv", "banana"))
    assert picker.distractors.similarity(relay, valve) > picker.distractors.similarity(relay, banana)
