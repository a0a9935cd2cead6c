"""Questions embedded by the ONNX Runtime export of the packaged MiniLM (faster, same vectors)."""

from __future__ import annotations

import logging

import numpy as np

from knowledge import onnx_query
from knowledge.embedders import MiniLMEmbedder

QUESTIONS = [
    "How does a device send telemetry to the cloud?",
    "What is the difference between a sensor and an actuator?",
    "Why " + "does the relay click " * 80 + "?",  # past the model's 256 word pieces: truncated alike
]


def test_a_question_gets_the_vector_sentence_transformers_gives_it(minilm_embedder):
    assert minilm_embedder._query_encoder is not None  # the export is what a CPU uses
    for question in QUESTIONS:
        onnx = minilm_embedder.embed_query(question)
        torch = minilm_embedder.embed_documents([question])[0]
        assert onnx.shape == torch.shape == (384,) and onnx.dtype == np.float32
        assert float(np.dot(onnx, torch)) > 0.9999


def test_without_the_export_questions_still_embed_with_one_log_line(minilm_embedder, monkeypatch, caplog):
    def broken(model):  # noqa: ANN001
        raise ImportError("No module named 'onnx'")

    monkeypatch.setattr(onnx_query, "OnnxQueryEncoder", broken)
    fresh = MiniLMEmbedder()
    fresh.__dict__["_model"] = minilm_embedder._model  # the loaded weights, not a second load
    with caplog.at_level(logging.WARNING, logger="knowledge.onnx_query"):
        vector = fresh.embed_query(QUESTIONS[0])
    assert fresh._query_encoder is None
    assert [r.getMessage() for r in caplog.records] == [
        "Questions are embedded by sentence-transformers (no ONNX export: No module named 'onnx')"
    ]
    assert float(np.dot(vector, minilm_embedder.embed_query(QUESTIONS[0]))) > 0.9999
