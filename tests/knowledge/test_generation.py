"""Generators: one contract for every back end, then each back end's own behaviour."""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from knowledge import local_llm
from knowledge.extractive import ExtractiveGenerator, split_sentences
from knowledge.generation import (
    MODEL_FOLDER,
    NO_PASSAGES,
    Generator,
    OpenAIGenerator,
    StreamingGenerator,
    Turn,
    attribute,
    build_messages,
    clean_answer,
    focus,
    format_passages,
    make_generator,
)
from knowledge.generation.base import text_cost
from knowledge.generation.convert import is_model_folder, write_atomically
from knowledge.generation.llamacpp import LlamaCppGenerator
from knowledge.local_llm import LocalGenerator
from knowledge.models import Chunk, ScoredChunk


def passage(
    text: str, title: str = "MQTT basics", heading: str = "Overview", language: str = "en"
) -> ScoredChunk:
    chunk = Chunk(f"id-{abs(hash(text))}", text, "iot", "l1", title, heading, "mqtt.md", language)
    return ScoredChunk(chunk, 1.0)


MQTT = [
    passage(
        "MQTT is a lightweight publish/subscribe messaging protocol. It was designed for unreliable, "
        "low-bandwidth networks. A broker routes every message from publishers to subscribers."
    ),
    passage(
        "Clients open a TCP connection to the broker. The default MQTT port is 1883, and port 8883 is "
        "used for MQTT over TLS.",
        heading="Ports",
    ),
]
QUESTION = "Which port does MQTT use by default?"
FAKE_REPLY = "MQTT uses port 1883 by default [2]."


# --- a fake OpenAI-compatible server --------------------------------------------------------------


class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )  # type: ignore[attr-defined]
        reply = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": FAKE_REPLY}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def openai_generator(server: ThreadingHTTPServer, api_key: str = "sk-test-secret") -> OpenAIGenerator:
    return OpenAIGenerator(
        base_url=f"http://127.0.0.1:{server.server_port}/v1",
        model="test-model",
        api_key=api_key,
        max_new_tokens=40,
        max_retries=0,
        timeout=10,
    )


@pytest.fixture(scope="session")
def local_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llm-data")


@pytest.fixture(scope="session")
def local_generator(local_data_dir: Path) -> LocalGenerator:
    """One model load for the whole session (the first converts the packaged GGUF)."""
    generator = LocalGenerator(local_data_dir, max_new_tokens=40)
    generator.load()
    return generator


# --- the contract ---------------------------------------------------------------------------------


@pytest.fixture(params=["extractive", pytest.param("local", marks=pytest.mark.slow), "openai"])
def generator(request: pytest.FixtureRequest) -> Generator:
    if request.param == "local":
        return request.getfixturevalue("local_generator")
    if request.param == "openai":
        return openai_generator(request.getfixturevalue("fake_openai"))
    return ExtractiveGenerator()


class TestGeneratorContract:
    def test_is_a_named_generator(self, generator: Generator) -> None:
        assert isinstance(generator, Generator)
        assert generator.name in {"extractive", "local", "openai"}

    def test_answers_a_question_from_passages(self, generator: Generator) -> None:
        answer = generator.generate(QUESTION, MQTT, [], "en")
        assert isinstance(answer, str) and answer.strip()

    def test_follow_up_with_history_in_chinese(self, generator: Generator) -> None:
        history = [Turn("What is MQTT?", "MQTT is a lightweight publish/subscribe protocol [1].")]
        answer = generator.generate("And which port does it use?", MQTT, history, "zh")
        assert isinstance(answer, str) and answer.strip()

    def test_without_passages_says_so(self, generator: Generator) -> None:
        assert generator.generate(QUESTION, [], [], "en") == NO_PASSAGES["en"]
        assert generator.generate(QUESTION, [], [], "zh") == NO_PASSAGES["zh"]


# --- extractive -----------------------------------------------------------------------------------


class TestExtractive:
    def test_picks_the_sentence_holding_the_answer_and_cites_its_passage(self) -> None:
        answer = ExtractiveGenerator().generate(QUESTION, MQTT, [], "en")
        assert answer.startswith("The default MQTT port is 1883")
        assert answer.endswith("[2]")
        assert "[1]" not in answer

    def test_keeps_passage_order_and_cites_each_group(self) -> None:
        passages = [
            passage("Retained messages are kept by the broker. Clients may connect at any time."),
            passage("The broker stores one retained message per topic. Wildcards match many topics."),
        ]
        question = "What is a retained message, and how does the broker store it for a topic?"
        answer = ExtractiveGenerator().generate(question, passages, [], "en")
        first, second = (
            "Retained messages are kept by the broker.",
            "The broker stores one retained message per topic.",
        )
        assert answer == f"{first} [1] {second} [2]"

    def test_chinese_passages(self) -> None:
        passages = [
            passage("HTTP 是一种请求/响应协议。浏览器使用它获取网页。", title="网络基础", language="zh"),
            passage(
                "MQTT 是一种轻量级的发布/订阅协议。MQTT 的默认端口是 1883。它常用于物联网设备。",
                language="zh",
            ),
        ]
        answer = ExtractiveGenerator().generate("MQTT 的默认端口是多少？", passages, [], "zh")
        assert "1883" in answer
        assert answer.endswith("[2]")
        assert "浏览器" not in answer

    def test_skips_code_and_tables(self) -> None:
        text = (
            "Start the broker with the default port.\n\n"
            "```bash\nmosquitto --port 1883 --verbose default\n```\n\n"
            "| port | default use |\n|------|-------------|\n| 1883 | plain MQTT default |\n\n"
            "Mosquitto listens on port 1883 unless told otherwise."
        )
        assert split_sentences(text) == [
            "Start the broker with the default port.",
            "Mosquitto listens on port 1883 unless told otherwise.",
        ]
        answer = ExtractiveGenerator().generate("Which port is the default?", [passage(text)], [], "en")
        assert "```" not in answer and "|" not in answer

    def test_without_overlap_quotes_the_first_sentence_of_passage_one(self) -> None:
        answer = ExtractiveGenerator().generate("Tell me about gardening", MQTT, [], "en")
        assert answer == "MQTT is a lightweight publish/subscribe messaging protocol. [1]"

    def test_answer_stays_short(self) -> None:
        long = " ".join(f"The broker handles message number {i} for every MQTT client." for i in range(60))
        answer = ExtractiveGenerator(max_chars=200).generate(
            "What does the MQTT broker handle?", [passage(long)], [], "en"
        )
        assert len(answer) <= 210


# --- prompt and cleaning --------------------------------------------------------------------------


class TestPrompt:
    def test_system_message_holds_rules_and_numbered_passages(self) -> None:
        system, human = build_messages(QUESTION, MQTT, [], "en")
        assert system.type == "system" and human.type == "human"
        assert "ONLY" in system.content and "[1]" in system.content
        assert "[1] MQTT basics > Overview\nMQTT is a lightweight" in system.content
        assert "[2] MQTT basics > Ports\nClients open" in system.content
        assert human.content == QUESTION

    def test_chinese_asks_for_simplified_chinese(self) -> None:
        system = build_messages(QUESTION, MQTT, [], "zh")[0]
        assert "Simplified Chinese" in system.content

    def test_keeps_the_last_three_turns_without_old_citations(self) -> None:
        history = [Turn(f"question {i}", f"answer {i} [1]") for i in range(5)]
        messages = build_messages("and why is that?", MQTT, history, "en")
        assert [m.type for m in messages] == ["system", "human", "ai", "human", "ai", "human", "ai", "human"]
        assert messages[1].content == "question 2"
        assert messages[2].content == "answer 2"

    def test_a_question_in_another_language_than_the_chat_repeats_the_language_rule(self) -> None:
        english = [Turn("How long should a passphrase be?", "Four random words [1].")]
        switched = build_messages("收到可疑邮件应该怎么办？", MQTT, english, "zh")[-1]
        assert switched.content.startswith("收到可疑邮件应该怎么办？") and "中文" in switched.content
        chinese = [Turn("密码要多长？", "至少四个随机单词[1]。")]
        assert (
            build_messages("收到可疑邮件应该怎么办？", MQTT, chinese, "zh")[-1].content
            == "收到可疑邮件应该怎么办？"
        )
        assert build_messages(QUESTION, MQTT, chinese, "en")[-1].content.endswith("(Answer in English.)")

    def test_passages_are_bounded(self) -> None:
        many = [passage("MQTT sentence number one. " * 100) for _ in range(6)]
        text = format_passages(many, max_passage_chars=1200, max_chars=3000)
        assert len(text) <= 3200
        assert text.startswith("[1] ") and "[2] " in text and "[6] " not in text

    def test_a_long_passage_keeps_the_part_that_answers(self) -> None:
        filler = "Devices send telemetry to the cloud every few seconds. " * 12
        answer = "The broker keeps a retained message and hands it to each new subscriber. "
        text = filler + answer + filler
        kept = focus(text, "What does the broker do with a retained message?", 300)
        assert answer.strip() in kept
        assert kept.startswith("…") and kept.endswith("…")
        assert text_cost(kept) <= 302

    def test_a_passage_with_none_of_the_question_words_keeps_its_start(self) -> None:
        text = "First sentence here. " + "Another line of text. " * 40
        assert focus(text, "zebra quantum", 200).startswith("First sentence here.")

    def test_focus_measures_chinese_by_its_token_cost(self) -> None:
        text = (
            "设备每隔几秒发送遥测数据。" * 10
            + "代理保存保留消息，交给新的订阅者。"
            + "设备每隔几秒发送遥测数据。" * 10
        )
        kept = focus(text, "代理怎么处理保留消息？", 120)
        assert "代理保存保留消息" in kept and text_cost(kept) <= 126

    def test_the_prompt_shows_each_passage_s_relevant_part(self) -> None:
        long = "Clients connect over TCP. " * 30 + "Port 8883 carries MQTT over TLS. " + "Filler text. " * 30
        system = build_messages("Which port carries MQTT over TLS?", [passage(long)], [], "en")[0]
        assert "Port 8883 carries MQTT over TLS." in system.content

    def test_braces_in_passages_are_not_template_fields(self) -> None:
        system = build_messages("What is {x}?", [passage("Use {name} in f-strings like f'{x}'.")], [], "en")[
            0
        ]
        assert "{name}" in system.content


class TestCleanAnswer:
    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            (
                "<|im_start|>assistant\nAnswer: MQTT is a protocol [1]. It uses TCP and",
                "MQTT is a protocol [1].",
            ),
            ("MQTT is small. [1] It was designed", "MQTT is small. [1]"),
            ("It listens on 1883 [2].<|im_end|>\n<|im_start|>user\nthanks", "It listens on 1883 [2]."),
            ("It is cheap [1].\nUser: and why?", "It is cheap [1]."),
            ("回答：MQTT 是一种协议。[1] 它使用", "MQTT 是一种协议。[1]"),
            ("Version 3.1.1 is common", "Version 3.1.1 is common"),  # no full stop to go back to
        ],
    )
    def test_strips_leftovers(self, raw: str, clean: str) -> None:
        assert clean_answer(raw) == clean

    def test_keeps_a_finished_answer_whole(self) -> None:
        assert clean_answer("It is cheap. It is fast", cut_off=False) == "It is cheap. It is fast"


class TestAttribute:
    def test_cites_the_closest_passage_when_none_is_cited(self) -> None:
        assert attribute("MQTT uses port 1883 by default.", MQTT) == "MQTT uses port 1883 by default. [2]"

    def test_drops_citations_of_missing_passages(self) -> None:
        assert attribute("It uses port 1883 [2][7].", MQTT) == "It uses port 1883 [2]."

    def test_leaves_unrelated_text_alone(self) -> None:
        assert attribute("I do not know.", MQTT) == "I do not know."


# --- OpenAI-compatible ------------------------------------------------------------------------------


class TestOpenAI:
    def test_request_carries_model_system_prompt_and_passages(self, fake_openai: ThreadingHTTPServer) -> None:
        history = [Turn("What is MQTT?", "A publish/subscribe protocol [1].")]
        answer = openai_generator(fake_openai).generate(QUESTION, MQTT, history, "en")
        assert answer == FAKE_REPLY
        (request,) = fake_openai.requests
        assert request["path"] == "/v1/chat/completions"
        assert request["headers"]["authorization"] == "Bearer sk-test-secret"
        body = request["body"]
        assert body["model"] == "test-model" and body["temperature"] == 0
        assert 40 in (body.get("max_tokens"), body.get("max_completion_tokens"))
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        assert "[2] MQTT basics > Ports\nClients open" in body["messages"][0]["content"]
        assert body["messages"][-1]["content"] == QUESTION

    def test_never_shows_the_key(
        self, fake_openai: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        generator = openai_generator(fake_openai, api_key="sk-very-secret-key")
        with caplog.at_level(logging.DEBUG):
            generator.generate(QUESTION, MQTT, [], "en")
        assert "sk-very-secret-key" not in caplog.text
        assert "sk-very-secret-key" not in repr(generator)


# --- factory --------------------------------------------------------------------------------------


class TestMakeGenerator:
    def test_builds_each_back_end_without_loading_a_model(self, tmp_path: Path) -> None:
        assert isinstance(make_generator("extractive", data_dir=tmp_path), ExtractiveGenerator)
        local = make_generator("local", data_dir=tmp_path, max_new_tokens=50, device="cpu")
        assert isinstance(local, LlamaCppGenerator) and isinstance(local, StreamingGenerator)
        assert local.max_new_tokens == 50 and local.threads == 1
        assert local.prompt_threads == min(os.cpu_count() or 1, 8)  # reading the prompt uses every core
        pinned = make_generator("local", data_dir=tmp_path, device="cpu", threads=1, prompt_threads=3)
        assert (pinned.threads, pinned.prompt_threads) == (1, 3)
        folder = make_generator("local", data_dir=tmp_path, runtime="transformers", device="cpu")
        assert isinstance(folder, LocalGenerator) and isinstance(folder, StreamingGenerator)
        assert not (tmp_path / "models").exists()
        remote = make_generator(
            "openai", data_dir=tmp_path, openai_base_url="http://127.0.0.1:9/v1", openai_model="m"
        )
        assert isinstance(remote, OpenAIGenerator)

    def test_unknown_name(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="Unknown generator 'gpt'"):
            make_generator("gpt", data_dir=tmp_path)

    def test_openai_needs_its_settings(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="openai_base_url .* and openai_model"):
            make_generator("openai", data_dir=tmp_path)
        with pytest.raises(ValueError, match="openai_model"):
            make_generator("openai", data_dir=tmp_path, openai_base_url="http://127.0.0.1:9/v1")

    def test_local_runtime_and_threads_are_checked(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="runtime"):
            make_generator("local", data_dir=tmp_path, runtime="onnx")
        with pytest.raises(ValueError, match="threads"):
            make_generator("local", data_dir=tmp_path, threads=0)
        with pytest.raises(ValueError, match="prompt threads"):
            make_generator("local", data_dir=tmp_path, prompt_threads=-1)

    def test_local_settings_are_checked(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="device"):
            make_generator("local", data_dir=tmp_path, device="tpu")
        with pytest.raises(ValueError, match="not a model folder"):
            make_generator("local", data_dir=tmp_path, local_model=str(tmp_path / "missing"))


# --- local model ----------------------------------------------------------------------------------


class TestModelFolder:
    def test_a_failed_write_leaves_nothing_behind(self, tmp_path: Path) -> None:
        target = tmp_path / "models" / MODEL_FOLDER

        def crash(folder: Path) -> None:
            (folder / "config.json").write_text("{}")
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            write_atomically(target, crash)
        assert not target.exists()
        assert list(target.parent.iterdir()) == []

    def test_a_finished_write_appears_whole(self, tmp_path: Path) -> None:
        target = tmp_path / "models" / MODEL_FOLDER

        def write(folder: Path) -> None:
            for name in ("config.json", "model.safetensors", "tokenizer.json"):
                (folder / name).write_text("x")

        write_atomically(target, write)
        assert is_model_folder(target)
        assert [p.name for p in target.parent.iterdir()] == [MODEL_FOLDER]


@pytest.mark.slow
class TestLocal:
    def test_conversion_writes_safetensors_that_a_second_generator_loads(
        self, local_generator: LocalGenerator, local_data_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        folder = local_data_dir / "models" / MODEL_FOLDER
        assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
        assert [p.name for p in folder.parent.iterdir()] == [MODEL_FOLDER]  # no staging folder left

        def no_conversion(target: Path) -> Path:
            raise AssertionError("the converted model should have been reused")

        monkeypatch.setattr(local_llm, "convert_packaged_model", no_conversion)
        second = LocalGenerator(local_data_dir, max_new_tokens=8)
        second.load()
        assert second.model_path == folder

    def test_stream_yields_the_answer_in_pieces(self, local_generator: LocalGenerator) -> None:
        pieces = list(local_generator.stream(QUESTION, MQTT, [], "en"))
        assert len(pieces) > 1
        assert clean_answer("".join(pieces))


def test_the_passage_budget_holds_chinese_prompts_to_about_the_same_tokens_as_english():
    from knowledge.generation.base import text_cost

    zh = "传感器测量温度、湿度和光照，并把读数发送给微控制器。" * 40
    en = "A sensor measures temperature and light, and sends readings to a microcontroller. " * 15

    def passages(text: str) -> list[ScoredChunk]:
        return [ScoredChunk(Chunk(f"c/{n}", text, "c", str(n), "L", "", "x.md", "zh"), 1.0) for n in range(3)]

    chinese, english = format_passages(passages(zh), 1200, 2400), format_passages(passages(en), 1200, 2400)
    assert text_cost(chinese) <= 2400 and text_cost(english) <= 2400
    assert len(chinese) < len(english) / 2  # a Chinese character weighs about three Latin ones
    assert chinese.startswith("[1] ") and "传感器" in chinese
