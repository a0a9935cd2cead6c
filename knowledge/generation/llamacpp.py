"""The llama.cpp back end: a GGUF model in-process through ``xllamacpp`` (a prebuilt wheel, no compile).

It reads the GGUF file directly (no conversion), applies the model's own chat template, and streams
through llama.cpp's OpenAI-style chat handler. Generation stops as soon as the caller cancels: the
streaming callback returns ``True`` and llama.cpp ends the request, so no work outlives its answer.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from knowledge.generation.base import (
    NO_PASSAGES,
    Turn,
    answer_language,
    attribute,
    build_messages,
    clean_answer,
    role_dicts,
)
from knowledge.generation.packaged import PACKAGED, default_model
from knowledge.models import ScoredChunk

log = logging.getLogger(__name__)

_END = object()


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp on this machine's CPU (or GPU layers where built for one).

    With no ``gguf_path`` it runs the embedded default (assembled and verified by
    :func:`~knowledge.generation.packaged.default_model`, falling back to SmolLM2). ``threads`` is
    llama.cpp's thread count while it writes: on a shared machine 1 thread keeps its speed where 2
    collapse under load (each token is a short step, and every thread waits for the slowest).
    ``prompt_threads`` read the prompt (0: one per core, at most 8): that is one large step per batch
    and scales with cores (1.8x with 2 on an idle 2-core machine), and it is most of the wait for the
    first word. ``max_context_chars`` bounds the passages (:func:`~knowledge.generation.base.focus`
    keeps the part of each that bears on the question).
    Requests run one at a time behind a lock (one slot), each streamed back piece by piece.

    Example:
        >>> generator = LlamaCppGenerator(Path("data"), threads=1)
        >>> generator.load()
        >>> generator.generate("What is MQTT?", passages, [], "en")
        'MQTT is a lightweight publish/subscribe protocol [1].'
    """

    name = "local"
    prefills = False
    """:meth:`chat` cannot continue a given start of the reply (the chat handler writes it whole)."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        gguf_path: str | Path = "",
        packaged: str = "",
        threads: int = 1,
        prompt_threads: int = 0,
        max_new_tokens: int = 200,
        max_context_chars: int = 1200,
        context_tokens: int = 2048,
    ) -> None:
        if not gguf_path and data_dir is None:
            raise ValueError("LlamaCppGenerator needs data_dir (for the packaged model) or gguf_path")
        if gguf_path and not Path(gguf_path).is_file():
            raise ValueError(f"local_model {str(gguf_path)!r} is not a GGUF file")
        if packaged and packaged not in PACKAGED:
            raise ValueError(f"Unknown packaged model {packaged!r}: choose {', '.join(PACKAGED)}")
        if threads < 1 or max_new_tokens < 1 or prompt_threads < 0:
            raise ValueError("threads and max_new_tokens must be >= 1, prompt_threads >= 0")
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.gguf_path = Path(gguf_path) if gguf_path else None
        self.packaged = packaged
        self.model_title = str(gguf_path) or packaged or "default"
        self.threads = threads
        self.prompt_threads = prompt_threads or min(os.cpu_count() or 1, 8)
        self.max_new_tokens = max_new_tokens
        self.max_context_chars = max_context_chars
        self.context_tokens = context_tokens
        self.last_prompt_tokens = 0
        self.last_new_tokens = 0
        self.last_prompt_ms = 0.0
        self._server: Any = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()

    @property
    def embedded(self) -> bool:
        """Runs a model shipped inside a package (the embedded default or SmolLM2), not one of the admin's."""
        return self.gguf_path is None

    def load(self) -> None:
        """Find, verify and load the model now (start-up), not on the first question."""
        with self._load_lock:
            if self._server is not None:
                return
            import xllamacpp

            path = self.gguf_path
            if path is None:
                models = (self.data_dir or Path(".")) / "models"
                if self.packaged:
                    from knowledge.generation.packaged import assemble

                    model = PACKAGED[self.packaged]
                    path = assemble(model, models)
                else:
                    model, path = default_model(models)
                self.model_title = model.title
            started = time.perf_counter()
            params = xllamacpp.CommonParams()
            params.model.path = str(path)
            params.n_ctx = self.context_tokens
            params.n_parallel = 1
            params.n_predict = self.max_new_tokens
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.prompt_threads
            params.warmup = False
            params.verbosity = 1  # errors only: no llama.cpp start-up chatter in the conversation
            self._server = xllamacpp.Server(params)
            log.info(
                "Loaded %s with llama.cpp (%d threads) in %.1f s",
                path.name,
                self.threads,
                time.perf_counter() - started,
            )

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """The whole answer, cleaned and cited (empty when the model wrote nothing usable)."""
        if not passages:
            return NO_PASSAGES[answer_language(language)]
        text = "".join(self.stream(question, passages, history, language))
        return attribute(clean_answer(text, cut_off=self.last_new_tokens >= self.max_new_tokens), passages)

    def stream(
        self,
        question: str,
        passages: Sequence[ScoredChunk],
        history: Sequence[Turn],
        language: str,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the raw answer as it is written; setting ``cancel`` (or closing this) stops llama.cpp."""
        if not passages:
            yield NO_PASSAGES[answer_language(language)]
            return
        messages = build_messages(question, passages, history, language, max_chars=self.max_context_chars)
        yield from self._stream(messages, self.max_new_tokens, (), cancel)

    def chat(
        self,
        messages: Sequence[BaseMessage],
        max_new_tokens: int | None = None,
        prefix: str = "",
        stop: Sequence[str] = (),
    ) -> str:
        """The model's raw reply to any chat (quiz drafting uses its own prompt); ``prefix`` is ignored."""
        return "".join(self._stream(messages, max_new_tokens or self.max_new_tokens, stop, None))

    def _stream(
        self,
        messages: Sequence[BaseMessage],
        max_new_tokens: int,
        stop: Sequence[str],
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        self.load()
        stop_now = threading.Event()  # set when the reader stops early
        request: dict[str, Any] = {
            "messages": role_dicts(messages),
            "max_tokens": max_new_tokens,
            "temperature": 0,
            "repeat_penalty": 1.1,
            "stream": True,
        }
        if stop:
            request["stop"] = list(stop)
        pieces: queue.Queue = queue.Queue()
        self.last_new_tokens = 0

        def on_chunk(chunk: Any) -> bool:
            if isinstance(chunk, dict):
                if "error" in chunk or "code" in chunk and "message" in chunk:
                    pieces.put(RuntimeError(f"llama.cpp: {chunk.get('error') or chunk.get('message')}"))
                    return True
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        self.last_new_tokens += 1  # one token a chunk; the final timings say exactly
                        pieces.put(piece)
                timings = chunk.get("timings")
                if timings:
                    self.last_prompt_tokens = int(timings.get("prompt_n", 0))
                    self.last_new_tokens = int(timings.get("predicted_n", 0))
                    self.last_prompt_ms = float(timings.get("prompt_ms", 0.0))
            # True ends the request inside llama.cpp: the reader left, or the caller cancelled.
            return stop_now.is_set() or (cancel is not None and cancel.is_set())

        def run() -> None:
            try:
                with self._lock:
                    if cancel is None or not cancel.is_set():
                        self._server.handle_chat_completions(request, on_chunk)
            except BaseException as error:  # handed to the reader below
                pieces.put(error)
            finally:
                pieces.put(_END)

        thread = threading.Thread(target=run, name="learnbot-llamacpp", daemon=True)
        thread.start()
        try:
            while (piece := pieces.get()) is not _END:
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
        finally:
            stop_now.set()  # a reader that stops early stops the model too
            thread.join()
