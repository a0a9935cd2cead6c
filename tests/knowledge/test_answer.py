from knowledge.answer import keep_supported, resolve_citations, retrieval_query
from knowledge.generation import Turn
from knowledge.models import Chunk, ScoredChunk


def passage(text: str, lesson: str = "l1", language: str = "en", heading: str = "Intro") -> ScoredChunk:
    chunk = Chunk(
        chunk_id=lesson + text[:5],
        text=text,
        course_id="c",
        lesson_id=lesson,
        lesson_title=lesson.upper(),
        heading=heading,
        source_path=f"{lesson}.md",
        language=language,
    )
    return ScoredChunk(chunk, 0.5)


PASSAGES = [
    passage("MQTT brokers route messages between devices using topics."),
    passage("Sensors measure the physical world; actuators change it.", "l2"),
]


def test_citations_are_renumbered_and_bogus_ones_dropped():
    text, citations = resolve_citations(
        "Actuators change things [2]. Brokers route [1][1]. Nonsense [7].", PASSAGES
    )
    assert text == "Actuators change things [1]. Brokers route [2]. Nonsense."
    assert [(c.n, c.lesson_id) for c in citations] == [(1, "l2"), (2, "l1")]


def test_an_answer_without_citations_is_credited_to_the_best_passage():
    text, citations = resolve_citations("Brokers route messages.", PASSAGES)
    assert text.endswith("[1]") and citations[0].lesson_id == "l1"


def test_unsupported_sentences_are_dropped():
    answer = (
        "MQTT brokers route messages between devices [1]. Sensors measure the physical world [2]. "
        "Bananas grow fastest on the moon during winter."
    )
    kept = keep_supported(answer, PASSAGES, "en", 0.6)
    assert kept is not None and "Bananas" not in kept and "brokers route" in kept


def test_a_mostly_invented_answer_is_rejected():
    answer = "Quantum bananas orbit Saturn weekly. Elephants vote in July. MQTT brokers route messages."
    assert keep_supported(answer, PASSAGES, "en", 0.6) is None


def test_an_english_answer_to_a_chinese_question_over_chinese_passages_is_rejected():
    zh = [passage("钓鱼邮件通常制造紧迫感。", language="zh")]
    assert keep_supported("Phishing emails create urgency.", zh, "zh", 0.6) is None
    assert keep_supported("钓鱼邮件通常制造紧迫感。", zh, "zh", 0.6) is not None


def test_an_answer_from_passages_in_the_other_language_is_judged_through_the_dictionary():
    # A Chinese answer shares no words with English passages: judged on words alone, every answer from
    # an English-only lesson was unsupported and replaced by a quote. Through CC-CEDICT it is judged.
    kept = keep_supported("传感器测量物理世界，执行器改变它。[2]", PASSAGES, "zh", 0.6)
    assert kept == "传感器测量物理世界，执行器改变它。[2]"
    assert keep_supported("香蕉在冬天的月球上长得最快。", PASSAGES, "zh", 0.6) is None
    mixed = keep_supported("传感器测量物理世界。[2]香蕉在冬天的月球上长得最快。", PASSAGES, "zh", 0.6)
    assert mixed == "传感器测量物理世界。[2]"
    # and an English answer from a Chinese passage, through the passage's renderings
    zh = [passage("传感器测量物理世界，执行器改变物理世界。", language="zh")]
    english = "Sensors measure the physical world and actuators change it. [1]"
    assert keep_supported(english, zh, "en", 0.6) == english
    assert keep_supported("Bananas grow fastest on the moon in winter.", zh, "en", 0.6) is None


def test_a_sentence_that_echoes_the_question_is_dropped():
    zh = [passage("收到可疑邮件时，点击报告钓鱼按钮。", language="zh")]
    kept = keep_supported(
        "点击报告钓鱼按钮。收到可疑邮件应该怎么办？[1]", zh, "zh", 0.6, question="收到可疑邮件应该怎么办？"
    )
    assert kept == "点击报告钓鱼按钮。[1]"
    # A part of the question asked again is an echo too; a statement of the question's words is not.
    question = "WAV 文件头有多少字节？内存 192KB 的单片机能录几秒？"
    wav = [passage("A WAV file starts with a 44 byte header.")]
    kept = keep_supported(
        "WAV 文件头有 44 字节。[1]内存 192KB 的单片机能录几秒？", wav, "zh", 0.6, question=question
    )
    assert kept == "WAV 文件头有 44 字节。[1]"
    stated = "An MQTT broker routes messages between devices."
    assert (
        keep_supported(stated, PASSAGES, "en", 0.6, question="Does an MQTT broker route messages?") == stated
    )
    # Not an echo: a sentence with words of its own stays.
    answer = "MQTT brokers route messages [1]. What does an MQTT broker route between devices?"
    kept = keep_supported(answer, PASSAGES, "en", 0.6, question="What does an MQTT broker do?")
    assert kept is not None and kept.endswith("devices?")


def test_a_sentence_with_an_address_no_passage_holds_is_dropped():
    zh = [
        passage(
            "点击“报告钓鱼”按钮，或把邮件作为附件发送到 security@example.com。不要转发给同事。", language="zh"
        )
    ]
    mangled = "收到可疑邮件时，应立即报告给安全@example.com。不要转发给同事。[1]"
    assert keep_supported(mangled, zh, "zh", 0.6) == "不要转发给同事。[1]"
    exact = "把邮件作为附件发送到security@example.com。不要转发给同事。[1]"
    assert keep_supported(exact, zh, "zh", 0.6) == exact
    invented = "MQTT brokers route messages, see https://mqtt.example.org/guide for topics."
    assert keep_supported(invented, PASSAGES, "en", 0.6) is None


def test_follow_up_borrows_the_previous_question_only_when_short():
    history = [Turn("What does an MQTT broker do?", "It routes messages [1].")]
    assert retrieval_query("and why?", history) == "What does an MQTT broker do? and why?"
    assert retrieval_query("What is a digital sensor output?", history) == "What is a digital sensor output?"
    assert retrieval_query("and why?", []) == "and why?"
    longer = "And why is that better than a short complex password?"
    assert retrieval_query(longer, history) == f"What does an MQTT broker do? {longer}"
    assert retrieval_query("Why is that better than polling every second?", history).startswith("What does")
    assert retrieval_query("那么它和 HTTP 有什么区别？", history).startswith("What does")
    fresh = "How do soil moisture sensors measure water content?"
    assert retrieval_query(fresh, history) == fresh  # a new question of its own stands alone
