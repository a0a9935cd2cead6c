"""The openai back end against a small OpenAI-compatible server (aiohttp, 127.0.0.1), like vLLM's.

The server speaks the chat-completions wire format, plain JSON and server-sent events, and answers
from the request it receives (it quotes the passage that holds the port), so the test sees that the
prompt, the passages and the settings really travel.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from knowledge.answer import AnswerChain
from knowledge.generation import OpenAIGenerator, StreamingGenerator, clean_answer
from tests.knowledge.test_generation import MQTT, QUESTION


class OpenAICompatible:
    """``POST /v1/chat/completions``; ``fail_first`` requests get a 503 first (the client retries)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self.base_url = ""

    def reply_for(self, body: dict) -> str:
        system = body["messages"][0]["content"]
        numbered = re.findall(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\]|\Z)", system, flags=re.M | re.S)
        for n, text in numbered:
            port = re.search(r"default MQTT port is (\d+)", text)
            if port:
                return f"By default MQTT uses port {port.group(1)} [{n}]."
        return "The passages do not say."

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        text = self.reply_for(body)
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = re.findall(r"\S+\s*", text)
        for n, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        end = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await response.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response


@pytest.fixture
def server() -> Iterator[OpenAICompatible]:
    fake = OpenAICompatible()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", fake.completions)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        fake.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(30)
    yield fake
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def generator(server: OpenAICompatible, **options) -> OpenAIGenerator:
    return OpenAIGenerator(
        base_url=server.base_url, model="Qwen/Qwen2.5-7B-Instruct", api_key="sk-local", **options
    )


def test_non_streaming_answer_carries_prompt_settings_and_citation(server):
    answer = generator(server, max_new_tokens=77).generate(QUESTION, MQTT, [], "en")
    assert answer == "By default MQTT uses port 1883 [2]."
    [request] = server.requests
    body = request["body"]
    assert (
        body["model"] == "Qwen/Qwen2.5-7B-Instruct"
        and body.get("max_tokens", body.get("max_completion_tokens")) == 77
        and body["temperature"] == 0
    )
    assert not body.get("stream") and request["headers"]["Authorization"] == "Bearer sk-local"
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and body["messages"][1][
        "content"
    ] == QUESTION


def test_streaming_answer_arrives_in_pieces_that_add_up(server):
    backend = generator(server)
    assert isinstance(backend, StreamingGenerator)
    pieces = list(backend.stream(QUESTION, MQTT, [], "en"))
    assert len(pieces) > 3 and clean_answer("".join(pieces)) == "By default MQTT uses port 1883 [2]."
    assert server.requests[0]["body"]["stream"] is True


def test_an_overloaded_server_is_retried(server):
    server.fail_first = 1
    assert generator(server).generate(QUESTION, MQTT, [], "en").endswith("[2].")
    assert len(server.requests) == 2


def test_the_answer_chain_cites_what_the_server_cited(server):
    class Fixed:
        def retrieve(self, query, k=5, search_filter=None):
            return MQTT[:k]

    class Vocabulary:
        def document_frequency(self, term):
            return 0.5

        def co_frequency(self, terms):
            return 0.5

        def size(self):
            return 2

    chain = AnswerChain(Fixed(), generator(server), Vocabulary, threshold=0.0)
    answer = chain.answer(QUESTION)
    assert answer.grounded and answer.backend == "openai"
    assert [c.heading for c in answer.citations] == ["Ports"] and answer.answer.endswith("[1].")
