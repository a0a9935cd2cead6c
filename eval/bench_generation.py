"""Generation speed of the local back end on this machine: the plain set-up against the tuned one.

Both generators load the same model folder and answer the same questions over the same retrieved
passages in turn (alternating, so load from other processes hits both alike). Time to first token
is the time until the first piece of the streamed answer; tokens/s counts the tokens the model wrote
(its own count) over the whole generation, prefill included, and over decoding alone.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval.common import progress
from knowledge.local_llm import LocalGenerator
from knowledge.models import ScoredChunk


@dataclass
class Speed:
    """Per-answer timings of one set-up."""

    ttft_ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        """Summary: TTFT p50, tokens/s overall and in decoding (medians over answers)."""
        decode = [
            (n - 1) / max(s - t / 1000, 1e-6)
            for n, s, t in zip(self.tokens, self.seconds, self.ttft_ms, strict=True)
            if n > 1
        ]
        return {
            "ttft_p50_ms": statistics.median(self.ttft_ms),
            "tokens_per_s": sum(self.tokens) / sum(self.seconds),
            "decode_tokens_per_s": statistics.median(decode) if decode else float("nan"),
            "mean_new_tokens": statistics.mean(self.tokens),
            "mean_prompt_tokens": statistics.mean(self.prompt_tokens),
        }


def time_answer(
    generator: LocalGenerator, question: str, passages: list[ScoredChunk], language: str, speed: Speed
) -> None:
    """Stream one answer, recording TTFT, the token count and the total time."""
    began = time.perf_counter()
    first = None
    pieces = []
    for piece in generator.stream(question, passages, [], language):
        first = first or time.perf_counter()
        pieces.append(piece)
    ended = time.perf_counter()
    speed.ttft_ms.append(((first or ended) - began) * 1000)
    speed.seconds.append(ended - began)
    speed.tokens.append(generator.last_new_tokens)
    speed.prompt_tokens.append(generator.last_prompt_tokens)
    speed.texts.append("".join(pieces))


def compare(
    model_dir: Path,
    cases: list[tuple[str, list[ScoredChunk], str]],
    max_new_tokens: int = 200,
    batch: int = 4,
) -> dict[str, dict[str, float]]:
    """Answer every case with the plain and the tuned generator, alternating; summary per set-up."""
    setups = {
        "before: float32 throughout": LocalGenerator(
            model_path=model_dir, device="cpu", max_new_tokens=max_new_tokens, tuned=False
        ),
        "after: bf16 prompt reading, float32 writing": LocalGenerator(
            model_path=model_dir, device="cpu", max_new_tokens=max_new_tokens
        ),
    }
    speeds = {name: Speed() for name in setups}
    for generator in setups.values():
        generator.load()
        question, passages, language = cases[0]
        time_answer(generator, question, passages, language, Speed())  # warm up
    with progress() as bar:
        task = bar.add_task("generation before / after", total=len(cases) * len(setups))
        for question, passages, language in cases:
            for name, generator in setups.items():
                time_answer(generator, question, passages, language, speeds[name])
                bar.advance(task)
    summary = {name: speed.row() for name, speed in speeds.items()}
    if batch > 1:  # the batcher on the CPU: one answer alone, then `batch` answers asked at once
        from eval.gpu_check import measure

        batched = LocalGenerator(
            model_path=model_dir, device="cpu", max_new_tokens=max_new_tokens, batching=True
        )
        batched.load()
        passages = cases[0][1]
        measure(batched, 1, passages)  # warm up
        for size in (1, batch):
            ttft, rate, per_request, _ = measure(batched, size, passages)
            summary[f"after, batcher, {size} asked at once"] = {"ttft_p50_ms": ttft, "tokens_per_s": rate}
        batched.batcher.close()
    before, after = (speeds[n].texts for n in setups)
    same = sum(a == b for a, b in zip(before, after, strict=True))
    for name in setups:
        summary[name]["same_text"] = same / len(cases)
    return summary
