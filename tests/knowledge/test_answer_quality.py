"""Answers a learner can trust (issue 12): per-language embedders, translations, cross-language reach,
refusal that ignores chat noise, and lessons ranked above module overview pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.testing import TestBot
from knowledge.extractive import ExtractiveGenerator
from knowledge.live import translation_groups
from knowledge.models import Chunk, ScoredChunk
from knowledge.text import strip_noise

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


# -- fast: no models ---------------------------------------------------------------------------


def chunk(course: str, lesson: str, language: str, translation_of: str = "") -> Chunk:
    return Chunk(
        f"{course}/{lesson}",
        "text",
        course,
        lesson,
        lesson,
        "",
        "x.md",
        language,
        translation_of=translation_of,
    )


def test_translation_groups_pair_declared_and_obvious_translations():
    declared = [chunk("sec", "a", "en"), chunk("sec", "b", "en"), chunk("sec-zh", "a", "zh", "sec")]
    assert translation_groups(declared) == {("sec", "a"): ("sec", "a"), ("sec-zh", "a"): ("sec", "a")}
    # no declaration: an English and a Chinese course sharing most lesson ids are one course translated
    obvious = [chunk(c, lesson, lang) for c, lang in (("x-en", "en"), ("x-zh", "zh")) for lesson in "abc"]
    assert translation_groups(obvious)[("x-zh", "b")] == translation_groups(obvious)[("x-en", "b")]
    # two English courses are never translations of each other, whatever their ids
    same = [chunk(c, lesson, "en") for c in ("p", "q") for lesson in "abc"]
    assert translation_groups(same) == {}


@pytest.mark.parametrize(
    ("noisy", "clean"),
    [
        ("What is MQTT? my ticket is INC-4471", "What is MQTT? my is"),
        ("Hey @priya, what is phishing? thanks! 🙏", "what is phishing?"),
        ("How long must a password be? - Tom", "How long must a password be?"),
        ("@李明 密码至少要多长？谢谢", "密码至少要多长？"),
        ("What is RS-485 used for?", "What is RS-485 used for?"),  # a real term, not a ticket
        ("张伟（工单号 SR-20931）：什么是无服务器计算？", "什么是无服务器计算？"),  # a name and its aside
        ("刘洋：LUIS 模型怎么发布？", "LUIS 模型怎么发布？"),
        ("欧姆定律是什么？", "欧姆定律是什么？"),  # a name that begins a term stays
        ("继电器：它是怎么工作的？", "继电器：它是怎么工作的？"),  # a topic label is not a name
    ],
)
def test_chat_noise_is_stripped_but_real_terms_stay(noisy, clean):
    assert strip_noise(noisy) == clean


# -- with the packaged models ------------------------------------------------------------------


@pytest.fixture(scope="module")
def both_languages(tmp_path_factory, paired_embedder) -> TestBot:
    """The English security course and its partial Chinese translation (phishing, passwords), together."""
    bot = TestBot.build(
        tmp_path_factory.mktemp("quality"), embedder=paired_embedder, generator=ExtractiveGenerator()
    )
    bot.ingest(SAMPLES / "security-basics")
    bot.ingest(SAMPLES / "security-basics-zh")
    return bot


def test_novelty_judges_each_word_of_a_chinese_phrase():
    # "传感器数据" is course vocabulary, "编码器" (an encoder) is not and is rare: the phrase is novel
    # although most of its words are known; a phrase of known and common words is not.
    from knowledge.grounding import novelty
    from knowledge.text import tokenize

    course = set(tokenize("物联网 设备 平台 传感器 数据 测量"))

    def frequency(term: str) -> float:
        return 0.1 if term in course else 0.0

    assert novelty("怎么用编码器测量传感器数据", frequency, chinese_course=True) > 0
    assert novelty("传感器数据怎么用", frequency, chinese_course=True) == 0
    assert novelty("怎么用编码器测量传感器数据", frequency, chinese_course=False) == 0


def test_chinese_quiz_phrasing_is_not_a_term_of_the_question():
    # jieba splits "哪一项" (which one) into 哪 + 一项 ("one item"): a small course that never says 一项
    # would count it as a key term it lacks and refuse a covered question.
    from knowledge.text import tokenize

    assert tokenize("下列哪一项是钓鱼邮件的典型特征？") == ["钓鱼", "邮件", "典型", "特征"]
    tokens = tokenize("以下哪一种传感器测量温度？")
    assert "一种" not in tokens and {"传感器", "测量", "温度"} <= set(tokens)


def test_a_joined_name_is_known_only_where_its_parts_stand_together():
    # "scikit-learn": the course says "learn" (often) but never "scikit", so the library is new to it;
    # "real-time" is common language and never novel, whatever the course says.
    from knowledge.grounding import novelty
    from knowledge.keyword import KeywordIndex
    from knowledge.models import Chunk

    texts = ["Learn how sensors work.", "You will learn to read a sensor in real time."]
    index = KeywordIndex([Chunk(f"c{i}", t, "iot", "l1", "T", "", "a.md", "en") for i, t in enumerate(texts)])
    question = "How do I install scikit-learn for this lesson?"
    assert novelty(question, index.document_frequency, False, co_frequency=index.co_frequency) > 0.5
    assert novelty(question, index.document_frequency, False) == 0  # any known part made it known
    assert novelty("Is real-time reading needed?", index.document_frequency, False, index.co_frequency) == 0


def test_a_course_in_another_language_is_answered_without_a_source_note(tmp_path):
    """A course may declare any language in course.toml; only English and Chinese get the note."""
    course = tmp_path / "cours"
    course.mkdir()
    (course / "course.toml").write_text('id = "cours"\ntitle = "Cours"\nlanguage = "fr"\n', encoding="utf-8")
    (course / "01-phishing.md").write_text(
        "# Phishing\n\nReport a phishing email with the Report phishing button.\n", encoding="utf-8"
    )
    bot = TestBot.build(tmp_path / "data", generator=ExtractiveGenerator(), grounding_threshold=0.0)
    bot.ingest(course)
    answer = bot.app.answers.answer("How do I report a phishing email?")
    assert answer.grounded and answer.citations[0].course_id == "cours"
    assert "source is" not in answer.answer


@pytest.mark.slow
def test_each_language_gets_its_own_model(paired_embedder):
    vectors = paired_embedder.embed_documents(
        ["Phishing mail asks for your password.", "钓鱼邮件会索要你的密码。"]
    )
    use, minilm = vectors[:, :512], vectors[:, 512:]
    assert np.allclose(np.linalg.norm(use, axis=1), 1.0, atol=1e-3)
    assert np.isclose(np.linalg.norm(minilm[0]), 1.0, atol=1e-3) and not minilm[1].any()
    assert set(paired_embedder.embed_query_parts("What is phishing?")) == {"use", "minilm"}
    assert set(paired_embedder.embed_query_parts("什么是钓鱼邮件？")) == {"use"}
    both = paired_embedder.embed_query("What is phishing?")  # the Embedder contract: one full vector
    assert both.shape == (paired_embedder.dimension,)
    assert np.allclose(np.linalg.norm(both[:512]), 1.0, atol=1e-3) and np.allclose(
        np.linalg.norm(both[512:]), 1.0, atol=1e-3
    )


@pytest.mark.slow
def test_a_question_cites_the_copy_in_its_own_language(both_languages):
    zh = both_languages.app.answers.answer("密码至少应该有多少个字符？")
    en = both_languages.app.answers.answer("How many characters must a password have at least?")
    assert zh.grounded and zh.citations[0].course_id == "security-basics-zh"
    assert en.grounded and en.citations[0].course_id == "security-basics"


@pytest.mark.slow
def test_a_chinese_question_reaches_a_lesson_that_exists_only_in_english(both_languages):
    # Multi-factor authentication is taught only in the English course; Chinese lessons are loaded too.
    answer = both_languages.app.answers.answer("什么是多因素身份验证？为什么需要第二个因素？")
    assert answer.grounded, answer.answer
    assert (answer.citations[0].course_id, answer.citations[0].lesson_id) == ("security-basics", "mfa")
    assert "英文" in answer.answer  # says the source is English


@pytest.mark.slow
def test_lessons_only_english_holds_are_ranked_on_their_own_too_as_a_vote_for_a_chinese_question(
    both_languages,
):
    # Across languages USE's similarities run lower than within one: in the one ranking over both
    # languages, the English MFA lesson sits below Chinese passages about passwords. So the lessons
    # English alone holds are also ranked on their own, as a vote in the order of lessons; the passage
    # rankings, on which the evidence is judged, stay as they were.
    from knowledge.models import SearchFilter

    question = "什么是多因素身份验证？为什么需要第二个因素？"
    rankings = both_languages.app.dense_retriever.rankings(question, 10)
    assert len(rankings.passages) == 1  # one USE ranking over every language
    (reach,) = rankings.lessons
    assert reach[0] and {h.chunk.course_id for h in reach[0]} == {"security-basics"}
    assert not {h.chunk.lesson_id for h in reach[0]} & {"phishing", "passwords"}  # lessons with a copy
    assert reach[0][0].chunk.lesson_id == "mfa"
    assert both_languages.app.retriever.lessons(question, 3)[0] == ("security-basics", "mfa")
    voted, judged = both_languages.app.retriever.retrieve_judged(question, 5)
    assert voted != judged  # the vote moved the answer's passages; the judged ones did not move with it
    # with the model's translation (which reaches them in English) there is no vote, nor where every
    # lesson in reach has a copy in the question's language
    assert both_languages.app.dense_retriever.rankings(question, 10, reach_vote=False).lessons == []
    chinese_only = SearchFilter(course_ids=("security-basics-zh",))
    assert both_languages.app.dense_retriever.rankings(question, 10, chinese_only).lessons == []


@pytest.mark.slow
def test_noise_words_do_not_turn_a_covered_question_into_a_refusal(both_languages):
    plain = both_languages.app.answers.answer("How do I report a phishing email?")
    noisy = both_languages.app.answers.answer(
        "Hi @sam, how do I report a phishing email? my ticket is INC-4471 🙏"
    )
    assert plain.grounded and noisy.grounded
    assert noisy.citations[0].lesson_id == plain.citations[0].lesson_id


@pytest.mark.slow
def test_all_noise_is_refused_with_the_closest_lessons(both_languages):
    answer = both_languages.app.answers.answer("🙏🙏 INC-4471 thanks!")
    assert not answer.grounded


@pytest.mark.slow
def test_a_module_overview_page_does_not_outrank_the_lesson(tmp_path, paired_embedder):
    course = tmp_path / "net"
    (course / "1-basics" / "lessons" / "1-routing").mkdir(parents=True)
    (course / "1-basics" / "lessons" / "2-switching").mkdir(parents=True)
    (course / "README.md").write_text("# Networking\n\nA course about networks.\n")
    (course / "1-basics" / "README.md").write_text(
        "# Basics\n\nIn this module you learn routing tables and how switches learn MAC addresses.\n"
    )
    (course / "1-basics" / "lessons" / "1-routing" / "README.md").write_text(
        "# Routing\n\nA router reads the routing table to pick the next hop for each packet. "
        "The routing table lists networks, next hops and metrics; the longest prefix wins.\n"
    )
    (course / "1-basics" / "lessons" / "2-switching" / "README.md").write_text(
        "# Switching\n\nA switch learns MAC addresses from the frames it sees and forwards each frame "
        "only to the port where the destination MAC address was learned.\n"
    )
    bot = TestBot.build(tmp_path / "data", embedder=paired_embedder)
    bot.ingest(course)
    hits = bot.app.retriever.retrieve("How does a router use the routing table?", k=3)
    assert hits[0].chunk.lesson_id == "1-basics/lessons/1-routing"
    assert isinstance(hits[0], ScoredChunk)


def test_whole_lessons_are_ranked_by_bm25_too_and_that_orders_lessons_not_passages(tmp_path):
    """A lesson that uses the question's words throughout is found as a whole; its vote moves lessons only."""
    course = tmp_path / "garden"
    lessons = {
        "1-watering": [
            "# Watering\n\n## Pumps\n\nA pump moves water from the tank to the pots.",
            "## Relays\n\nA relay lets the microcontroller switch the pump.",
            "## Dry soil\n\nWhen the soil is dry, the plants need water.",
        ],
        "2-safety": ["# Safety\n\n## Mains\n\nNever touch a relay, a pump or dry soil near mains power."],
        **{f"{n}-{t}": [f"# {t}\n\nThis lesson is about {t}."] for n, t in enumerate("ABCD", 3)},
    }
    for name, paragraphs in lessons.items():
        (course / "lessons" / name).mkdir(parents=True)
        (course / "lessons" / name / "README.md").write_text("\n\n".join(paragraphs) + "\n")
    (course / "README.md").write_text("# Garden\n\nA pump, a relay and dry soil: it waters plants.\n")
    bot = TestBot.build(tmp_path / "data")
    bot.ingest(course)
    retriever = bot.app.retriever
    records = retriever.keyword.records
    question = "Which pump and relay water dry soil?"

    by_lesson = records.lesson_keyword.search(question, 10)
    assert len(records.lesson_keyword.chunks) == 6  # one document a lesson; the course page is none
    assert by_lesson[0][0].lesson_id == "lessons/1-watering"
    assert by_lesson[0][0].heading == "Watering > Pumps"  # a lesson stands as its first passage
    assert {c.lesson_id for c, _ in by_lesson} == {"lessons/1-watering", "lessons/2-safety"}

    rankings = retriever.ranked_lists(question, 10)
    assert [h.chunk.lesson_id for h in rankings.lessons[0][0]] == [c.lesson_id for c, _ in by_lesson]
    with_votes = {h.chunk.chunk_id: h.score for h in retriever.retrieve(question, k=10)}
    retriever.lesson_keyword_weight = 0.0
    without = {h.chunk.chunk_id: h.score for h in retriever.retrieve(question, k=10)}
    assert with_votes == without  # passages keep the passage rankings' scores

    # Whether the material answers is judged on the passages as the passage rankings alone order
    # them; here a whole-lesson vote made strong enough to move the order sends the answer elsewhere.
    moved = "What does a relay switch near the soil?"
    plain = retriever.retrieve(moved, k=10)
    retriever.lesson_keyword_weight = 50.0
    voted, judged = retriever.retrieve_judged(moved, k=10)
    assert voted == retriever.retrieve(moved, k=10)
    assert voted[0].chunk.lesson_id == "lessons/2-safety" != plain[0].chunk.lesson_id
    assert judged == plain


def test_a_refusal_names_the_locked_premium_track_that_covers_the_question(tmp_path):
    """Title only: the learner learns where the answer is, never a word of the premium lesson."""
    from knowledge.models import SearchFilter
    from tests.premium_course import MARKER, TRACK, write_courses

    bot = TestBot.build(tmp_path / "data", generator=ExtractiveGenerator())
    for folder in write_courses(tmp_path / "courses"):
        bot.ingest(folder)
    question = "How often is the vault combination rotated, and what happens to the old combination?"
    free = bot.app.answers.answer(question, SearchFilter(allow_premium=False))
    assert not free.grounded and TRACK in free.answer and "/premium" in free.answer
    assert not MARKER.search(free.answer) and not free.citations
    entitled = bot.app.answers.answer(question, SearchFilter(allow_premium=False, premium_tracks=(TRACK,)))
    assert entitled.grounded and TRACK not in entitled.answer


@pytest.mark.slow
def test_an_english_question_runs_the_multilingual_model_only_to_reach_lessons_english_lacks(
    tmp_path, paired_embedder, monkeypatch
):
    bot = TestBot.build(tmp_path / "data", embedder=paired_embedder)
    bot.ingest(SAMPLES / "security-basics")
    calls: list[str] = []
    real = paired_embedder.use.embed_query
    monkeypatch.setattr(paired_embedder.use, "embed_query", lambda text: calls.append(text) or real(text))
    question = "How do I report a phishing email?"
    hits = bot.app.retriever.retrieve(question, k=3)
    assert hits[0].chunk.lesson_id in ("phishing", "incident-reporting") and calls == []
    bot.app.retriever.retrieve("如何报告钓鱼邮件？", k=3)
    assert calls == ["如何报告钓鱼邮件？"], "a Chinese question meets the English lessons through USE"
    bot.ingest(SAMPLES / "security-basics-zh")  # a translation: each of its lessons has an English copy
    bot.app.retriever.retrieve(question, k=3)
    assert calls == ["如何报告钓鱼邮件？"]
    only = tmp_path / "zh-only"
    only.mkdir()
    (only / "course.toml").write_text('id = "zh-only"\ntitle = "设备"\nlanguage = "zh"\n', encoding="utf-8")
    (only / "01-badge.md").write_text("# 门禁卡\n\n门禁卡丢失后要立即报告安全团队。\n", encoding="utf-8")
    bot.ingest(only)
    english, reach = bot.app.dense_retriever.ranked_lists("What do I do when I lose my badge?", 10)
    assert calls[-1] == "What do I do when I lose my badge?", "USE reaches the lesson English lacks"
    assert {h.chunk.course_id for h in reach[0]} == {"zh-only"}
    assert {h.chunk.language for h in english[0]} == {"en"}


@pytest.mark.slow
def test_a_chinese_copy_does_not_rerank_an_english_question(both_languages):
    # The Chinese translation reaches lessons English lacks; it must not blur MiniLM's and BM25's
    # ranking of lessons that have an English copy.
    from knowledge.models import SearchFilter

    retriever = both_languages.app.retriever
    english = SearchFilter(languages=("en",))
    for question in ("How long should a passphrase be?", "What should I do with a suspicious email?"):
        whole = [key for key in retriever.lessons(question, 5) if key[0] == "security-basics"]
        assert whole == retriever.lessons(question, 5, english)[: len(whole)]


@pytest.mark.slow
def test_a_short_new_question_is_not_read_as_a_follow_up(both_languages):
    from knowledge.generation import Turn

    chain = both_languages.app.answers
    earlier = [Turn("What is phishing?", "Phishing is a fake message that tricks you into giving away data.")]
    new = chain.answer("How long should a passphrase be?", history=earlier)
    assert new.grounded and new.citations[0].lesson_id == "passwords"
    follow_up = chain.answer("and why?", history=earlier)  # this one does lean on the question before
    assert follow_up.citations and follow_up.citations[0].lesson_id != "passwords"
