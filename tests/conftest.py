"""Shared fixtures: no network beyond 127.0.0.1, corpora and sample-course paths, real models loaded once."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "bot" / "sample_courses"
SHARED = ROOT.parent / "shared"
IOT = SHARED / "corpora" / "iot-for-beginners"

needs_corpora = pytest.mark.skipif(
    not IOT.is_dir(), reason=f"the shared corpora are not at {IOT} (a checkout outside the workspace)"
)

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    if isinstance(address, tuple) and address and address[0] not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like python-telegram-bot's OfflineRequest: any socket outside loopback fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own LEARNBOT_* settings or data dir."""
    for key in list(os.environ):
        if key.startswith("LEARNBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LEARNBOT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def use_embedder():
    """The packaged multilingual USE model, loaded once per session."""
    from knowledge.embedders import USEEmbedder

    embedder = USEEmbedder()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def minilm_embedder():
    """The packaged MiniLM model, loaded once per session."""
    from knowledge.embedders import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def paired_embedder(use_embedder, minilm_embedder):
    """The default embedder (MiniLM for English, USE across languages) on the session's loaded models."""
    from knowledge.embedders import PairedEmbedder

    embedder = PairedEmbedder()
    embedder.use, embedder.minilm = use_embedder, minilm_embedder
    return embedder
