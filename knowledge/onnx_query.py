"""One question embedded by ONNX Runtime: the packaged MiniLM exported in memory, at load.

A question is one short text, and under PyTorch's eager execution most of its cost is per-operation
overhead, not arithmetic. The same weights exported to ONNX (in memory, from the packaged model:
nothing is downloaded) run ~2.3x faster on one thread (IoT quiz questions, same run, loaded machine:
p50 6.8 vs 15.6 ms), with the same vectors (cosine 1.000000). Passages are still embedded by
sentence-transformers, in batches, where eager overhead is spread over many texts.

The export takes ~2.5 s and ~90 MB once per process; :meth:`bot.app.App.prepare_search` does it at
start-up. Without the ``onnx`` package, or for a model that is not a mean-pooled, normalised BERT,
:func:`query_encoder` returns ``None`` and questions go through sentence-transformers as before.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxQueryEncoder:
    """A mean-pooled, normalised sentence-transformers BERT as an ONNX Runtime session on one thread.

    Args:
        model: A loaded ``SentenceTransformer`` of Transformer, mean Pooling and Normalize modules.
    """

    def __init__(self, model: Any) -> None:
        import onnxruntime
        import torch

        transformer = model[0]
        self.tokenizer = transformer.tokenizer
        self.max_length = transformer.max_seq_length
        sample = self.tokenizer(["a question"], return_tensors="pt")
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it keeps dynamic
            torch.onnx.export(
                _hidden_states(transformer.auto_model),
                tuple(sample[name] for name in _INPUTS),
                buffer,
                input_names=list(_INPUTS),
                output_names=["hidden"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in _INPUTS},
                opset_version=17,
                dynamo=False,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, text: str) -> np.ndarray:
        """The unit-length embedding of one text (mean of its token vectors)."""
        batch = self.tokenizer([text], return_tensors="np", truncation=True, max_length=self.max_length)
        hidden = self.session.run(None, {name: batch[name].astype(np.int64) for name in _INPUTS})[0]
        mask = batch["attention_mask"][..., None].astype(np.float32)
        vector = ((hidden * mask).sum(axis=1) / mask.sum(axis=1))[0]
        return (vector / np.linalg.norm(vector)).astype(np.float32)


def query_encoder(model: Any) -> OnnxQueryEncoder | None:
    """An ONNX encoder for ``model``, or ``None`` (with a log line) when it cannot be built."""
    modules = [type(module).__name__ for module in model]
    pooling = model[1] if len(modules) > 1 else None
    if modules != ["Transformer", "Pooling", "Normalize"] or getattr(pooling, "pooling_mode", "") != "mean":
        log.info("Questions are embedded by sentence-transformers: %s is not a mean-pooled model", modules)
        return None
    try:
        return OnnxQueryEncoder(model)
    except Exception as exc:  # noqa: BLE001 - the slower path gives the same vectors
        log.warning("Questions are embedded by sentence-transformers (no ONNX export: %s)", exc)
        return None


def _hidden_states(bert: Any) -> Any:
    """``bert`` as a module of positional inputs that returns only the last hidden states."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return Hidden().eval()
