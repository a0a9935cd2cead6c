"""Chinese questions searched in English text through the packaged CC-CEDICT dictionary (issue 12)."""

from __future__ import annotations

from knowledge.crosslingual import translate_query
from knowledge.grounding import assess
from knowledge.keyword import KeywordIndex
from knowledge.models import Chunk, ScoredChunk


def english(lesson: str, text: str) -> Chunk:
    return Chunk(f"farm/{lesson}", text, "farm", lesson, lesson, "", "README.md", "en")


SOIL = english(
    "soil", "A soil moisture sensor measures how much water the soil holds; dry soil reads a high value."
)
LIGHT = english("light", "A light sensor measures brightness, and an LED actuator gives light out.")
CLOUD = english("cloud", "Devices use MQTT to send telemetry to the cloud, where a server stores it.")


def test_a_chinese_question_becomes_one_group_of_renderings_per_word():
    groups = translate_query("土壤湿度传感器怎么工作？")
    flat = [set(terms) for group in groups for terms in group]
    assert {"soil"} in flat and {"sensor"} in flat
    # one group per Chinese word: 传感器 (sensor | transducer) is a single group, not two words
    assert any({"sensor"} in [set(t) for t in g] and {"transducer"} in [set(t) for t in g] for g in groups)
    assert translate_query("How does a soil sensor work?") == []  # nothing to translate


def test_latin_words_in_a_chinese_question_are_kept_and_compounds_stay_whole():
    groups = translate_query("物联网设备怎么用MQTT发送数据？")
    assert [["mqtt"]] in groups
    assert [["internet", "thing"]] in groups  # 物联网 as one word, although jieba splits it


def test_a_translated_question_finds_the_english_passage():
    index = KeywordIndex([LIGHT, CLOUD, SOIL])
    hits = index.search_groups(translate_query("土壤湿度传感器测量什么？"), 3)
    assert hits[0][0] is SOIL
    assert index.search("土壤湿度传感器测量什么？", 3) == []  # plain keyword search shares no word with it


def test_a_word_with_many_renderings_counts_once():
    # 安装 renders as "install" or "mount": a passage holding both scores the better one, not their sum.
    many = english("many", "Engineers install boards and mount relays.")
    index = KeywordIndex([many, CLOUD, SOIL, LIGHT])
    install, mount = index.scores(["install"])[0], index.scores(["mount"])[0]
    assert install > 0 and mount > 0
    assert index.grouped_scores([[["install"], ["mount"]]])[0] == max(install, mount) < install + mount


def test_cross_language_evidence_counts_the_translated_words():
    index = KeywordIndex([SOIL, LIGHT, CLOUD])

    def evidence(question: str, passage: Chunk):
        hit = ScoredChunk(passage, 1.0, dense_score=0.5)
        return assess(question, [hit], index.document_frequency, index.size())

    covered = evidence("土壤湿度传感器测量什么？", SOIL)
    uncovered = evidence("区块链钱包怎么备份私钥？", SOIL)
    assert covered.cross_lingual and uncovered.cross_lingual
    assert covered.coverage > 0.5 > uncovered.coverage
    assert covered.known > uncovered.known


def test_a_translated_phrase_is_known_only_where_its_words_stand_together():
    # 所得税 renders as "income tax": a course that says "income" in one place and "tax" in another
    # does not know it, so an off-topic question is not made of known words.
    apart = [
        english("sales", "Farm income rises when the harvest is sold early."),
        english("import", "A tax on imported sensors raises the price of a kit."),
        SOIL,
    ]
    together = [english("tax", "Income tax is reported every year."), *apart[1:]]

    def known(chunks: list[Chunk]) -> float:
        index = KeywordIndex(chunks)
        hit = ScoredChunk(SOIL, 1.0, dense_score=0.3)
        question = "所得税怎么算？"
        with_phrases = assess(
            question, [hit], index.document_frequency, index.size(), co_frequency=index.co_frequency
        )
        return with_phrases.known

    assert known(apart) < known(together)
    assert KeywordIndex(apart).co_frequency(["incom", "tax"]) == 0.0
