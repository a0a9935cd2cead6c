"""The OpenAI-compatible back end: any chat server (vLLM, OpenAI) through LangChain's ``ChatOpenAI``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from knowledge.generation.base import (
    NO_PASSAGES,
    Turn,
    answer_language,
    attribute,
    build_messages,
    clean_answer,
)
from knowledge.models import ScoredChunk


class OpenAIGenerator:
    """Any OpenAI-compatible chat server (vLLM, OpenAI) through LangChain's ``ChatOpenAI``.

    The key is handed to the client as a secret and never logged or shown in ``repr``.

    Example:
        >>> generator = OpenAIGenerator(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        max_new_tokens: int = 200,
        max_context_chars: int = 8000,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if not base_url or not model:
            raise ValueError("OpenAIGenerator needs both base_url and model")
        from langchain_openai import ChatOpenAI

        self.base_url = base_url
        self.model = model
        self.max_context_chars = max_context_chars
        self._chat = ChatOpenAI(
            base_url=base_url,
            api_key=api_key or "EMPTY",  # vLLM without --api-key accepts any key
            model=model,
            temperature=0,
            max_tokens=max_new_tokens,
            timeout=timeout,
            max_retries=max_retries,
        )

    def __repr__(self) -> str:
        return f"OpenAIGenerator(base_url={self.base_url!r}, model={self.model!r})"

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Ask the server; falls back to an extractive answer if it replies with nothing usable."""
        if not passages:
            return NO_PASSAGES[answer_language(language)]
        messages = build_messages(question, passages, history, language, max_chars=self.max_context_chars)
        reply = self._chat.invoke(messages)
        content = (
            reply.content
            if isinstance(reply.content, str)
            else "".join(
                part if isinstance(part, str) else str(part.get("text", "")) for part in reply.content
            )
        )
        answer = clean_answer(content, cut_off=reply.response_metadata.get("finish_reason") == "length")
        answer = attribute(answer, passages)
        if answer:
            return answer
        from knowledge.extractive import ExtractiveGenerator

        return ExtractiveGenerator().generate(question, passages, history, language)

    def stream(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> Iterator[str]:
        """Yield the server's answer as it streams in (``stream: true``, server-sent events)."""
        if not passages:
            yield NO_PASSAGES[answer_language(language)]
            return
        messages = build_messages(question, passages, history, language, max_chars=self.max_context_chars)
        for chunk in self._chat.stream(messages):
            piece = _text(chunk.content)
            if piece:
                yield piece

    prefills = False
    """:meth:`chat` cannot continue a given start of the reply: a server's model writes it whole."""

    def chat(
        self,
        messages: Sequence[BaseMessage],
        max_new_tokens: int | None = None,
        prefix: str = "",
        stop: Sequence[str] = (),
    ) -> str:
        """The server's raw reply to any chat (quiz drafting uses its own prompt).

        ``prefix`` only steers the local model; a server's model follows the instructions without it.
        """
        options: dict[str, Any] = {"max_tokens": max_new_tokens} if max_new_tokens is not None else {}
        if stop:
            options["stop"] = list(stop)
        reply = self._chat.invoke(list(messages), **options)
        return _text(reply.content)


def _text(content: str | list) -> str:
    """A chat reply's content as plain text (servers may send a list of parts)."""
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)
