"""Batched generation: requests that arrive together are generated together, each streamed back.

The bot answers each chat in its own worker thread (``asyncio.to_thread``). On a GPU, running those
answers one at a time leaves the chip mostly idle, so :class:`Batcher` owns the model in one worker
thread: it waits a few milliseconds for requests to gather, left-pads their prompts into one batch,
runs transformers' own ``generate`` over it, and hands each row's new text to that row's caller as it
is written. Memory stays bounded: at most ``max_batch`` rows run at once and at most ``max_queue``
wait; a request beyond that is refused at once with :class:`BatcherFull` instead of piling up.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_END = object()


class BatcherFull(RuntimeError):
    """Too many requests are waiting: the caller should answer "busy, try again" rather than queue."""


class BatcherClosed(RuntimeError):
    """The batcher was closed; no more requests are taken."""


@dataclass
class _Request:
    input_ids: list[int]
    max_new_tokens: int
    pieces: queue.Queue = field(default_factory=queue.Queue)
    tokens: list[int] = field(default_factory=list)
    sent: str = ""
    done: bool = False
    cancelled: bool = False


class Batcher:
    """Generates concurrent requests together in one left-padded batch, streaming each to its caller.

    Thread-safe: call :meth:`stream` (or :meth:`generate`) from any thread, or :meth:`astream` from
    asyncio. Decoding settings (greedy, repetition penalty, end token) come from ``config``, a
    transformers ``GenerationConfig``; each request may ask for fewer new tokens than it allows.

    Example:
        >>> batcher = Batcher(model, tokenizer, config, max_batch=16)
        >>> "".join(batcher.stream(tokenizer("Hello").input_ids, max_new_tokens=20))
        ' there! How can I help?'
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        config: Any,
        *,
        max_batch: int = 16,
        max_queue: int = 64,
        max_wait: float = 0.01,
        tokenizer_lock: threading.Lock | None = None,
        start: bool = True,
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be >= 1")
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batches: list[int] = []  # sizes of the batches run so far (for measurements and tests)
        self.tokens_out = 0  # new tokens written so far, all requests together
        self._tokenizer_lock = tokenizer_lock or threading.Lock()  # fast tokenizers are not re-entrant
        self._waiting: queue.Queue[_Request | None] = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._pad = config.pad_token_id if config.pad_token_id is not None else tokenizer.eos_token_id
        eos = config.eos_token_id
        self._eos = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        self._worker = threading.Thread(target=self._run, name="learnbot-batcher", daemon=True)
        if start:
            self._worker.start()

    def start(self) -> None:
        """Start the worker (only for a batcher made with ``start=False``, e.g. to queue requests first)."""
        self._worker.start()

    # --- callers ----------------------------------------------------------------------------------

    def submit(self, input_ids: Sequence[int], max_new_tokens: int | None = None) -> _Request:
        """Queue one prompt (token ids); raises :class:`BatcherFull` when the queue is full."""
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        if not input_ids:
            raise ValueError("empty prompt")
        limit = self.config.max_new_tokens
        request = _Request(list(input_ids), min(max_new_tokens or limit, limit))
        try:
            self._waiting.put_nowait(request)
        except queue.Full:
            raise BatcherFull(f"{self._waiting.maxsize} requests are already waiting") from None
        return request

    def stream(self, input_ids: Sequence[int], max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield the reply's text in pieces as the batch writes it (closing the iterator cancels)."""
        yield from self._pieces(self.submit(input_ids, max_new_tokens))

    def generate(self, input_ids: Sequence[int], max_new_tokens: int | None = None) -> tuple[str, int]:
        """The whole reply as one string, and how many tokens it took."""
        request = self.submit(input_ids, max_new_tokens)
        return "".join(self._pieces(request)), len(request.tokens)

    @staticmethod
    def _pieces(request: _Request) -> Iterator[str]:
        """A request's text pieces until its end (a batch failure is raised here); leaving cancels it."""
        try:
            while (piece := request.pieces.get()) is not _END:
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
        finally:
            request.cancelled = True

    async def astream(
        self, input_ids: Sequence[int], max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """:meth:`stream` for asyncio callers: waits without blocking the event loop."""
        request = self.submit(input_ids, max_new_tokens)
        try:
            while True:
                piece = await asyncio.to_thread(request.pieces.get)
                if piece is _END:
                    return
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
        finally:
            request.cancelled = True

    def close(self) -> None:
        """Stop taking requests; the worker finishes the running batch and exits."""
        self._closed = True
        try:
            self._waiting.put_nowait(None)
        except queue.Full:
            pass
        if self._worker.is_alive():
            self._worker.join(timeout=30)

    # --- worker -----------------------------------------------------------------------------------

    def _gather(self) -> list[_Request] | None:
        first = self._waiting.get()
        if first is None:
            return None
        batch = [first]
        deadline = threading.Event()
        timer = threading.Timer(self.max_wait, deadline.set)
        timer.start()
        try:
            while len(batch) < self.max_batch:
                try:
                    more = self._waiting.get(timeout=max(self.max_wait / 4, 0.001))
                except queue.Empty:
                    if deadline.is_set():
                        break
                    continue
                if more is None:
                    self._closed = True
                    break
                batch.append(more)
        finally:
            timer.cancel()
        return [r for r in batch if not r.cancelled]

    def _run(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                return
            if not batch:
                continue
            try:
                self._generate(batch)
            except BaseException as error:  # every caller of this batch gets the error
                log.exception("Batched generation failed")
                for request in batch:
                    if not request.done:
                        request.pieces.put(error)
            finally:
                for request in batch:
                    self._flush(request)
                    request.done = True
                    request.pieces.put(_END)
            if self._closed and self._waiting.empty():
                return

    def _generate(self, batch: list[_Request]) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        width = max(len(r.input_ids) for r in batch)
        ids = torch.full((len(batch), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):  # left padding: every prompt ends at the same column
            ids[row, width - len(request.input_ids) :] = torch.tensor(request.input_ids)
            mask[row, width - len(request.input_ids) :] = 1
        batcher = self

        class RowStreamer(BaseStreamer):
            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:  # generate() first hands over the prompt itself
                    self.prompt_seen = True
                    return
                for request, token in zip(batch, value.reshape(len(batch), -1)[:, -1].tolist(), strict=True):
                    batcher._add(request, int(token))

            def end(self) -> None:
                pass

        class RowsDone(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.tensor([r.done or r.cancelled for r in batch], device=input_ids.device)

        self.batches.append(len(batch))
        device = self.model.device
        config = copy.deepcopy(self.config)
        config.max_new_tokens = max(r.max_new_tokens for r in batch)
        with torch.inference_mode():
            self.model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                generation_config=config,
                streamer=RowStreamer(),
                stopping_criteria=StoppingCriteriaList([RowsDone()]),
            )

    def _flush(self, request: _Request) -> None:
        """Send whatever text of the row was held back (a character cut at the end)."""
        if request.tokens and not request.cancelled:
            with self._tokenizer_lock:
                text = self.tokenizer.decode(request.tokens, skip_special_tokens=True)
            if text[len(request.sent) :] and text.startswith(request.sent):
                request.pieces.put(text[len(request.sent) :])
                request.sent = text

    def _add(self, request: _Request, token: int) -> None:
        """One new token of one row: send the text it completes, end the row at its end token."""
        if request.done or request.cancelled:
            return
        if token in self._eos:
            request.done = True
            return
        request.tokens.append(token)
        self.tokens_out += 1
        with self._tokenizer_lock:
            text = self.tokenizer.decode(request.tokens, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # hold back a character whose bytes are not all written yet
            piece, request.sent = text[len(request.sent) :], text
            if piece:
                request.pieces.put(piece)
        if len(request.tokens) >= request.max_new_tokens:
            request.done = True
