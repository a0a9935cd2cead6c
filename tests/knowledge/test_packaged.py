"""The packaged models: parts joined, checked against the pinned checksum and GGUF header, or refused."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import struct
from pathlib import Path

import pytest

from knowledge.generation import packaged
from knowledge.generation.packaged import (
    QWEN_CODER_05B,
    SMOLLM2_135M,
    ModelCheckFailed,
    PackagedModel,
    assemble,
    check_metadata,
    default_model,
    gguf_metadata,
)


def gguf_bytes(architecture: str, name: str) -> bytes:
    """A minimal GGUF header: version 3, no tensors, a u32, an array, then the two strings."""

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    kvs = [
        string("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32),
        string("tokenizer.scores") + struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 0.5, 0.25),
        string("general.architecture") + struct.pack("<I", 8) + string(architecture),
        string("general.name") + struct.pack("<I", 8) + string(name),
    ]
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs) + b"\0" * 64


def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, pins: bytes) -> PackagedModel:
    """A two-part model whose parts hold ``content`` and whose pins match ``pins``."""
    half = len(content) // 2
    files = []
    for n, piece in enumerate((content[:half], content[half:]), start=1):
        folder = tmp_path / "site" / f"fake_part{n}"
        folder.mkdir(parents=True)
        (folder / "part.bin").write_bytes(piece)
        files.append(folder / "part.bin")
    model = PackagedModel(
        key="fake-qwen",
        title="Fake Qwen",
        parts=(("fake_part1", "part.bin"), ("fake_part2", "part.bin")),
        architecture="qwen2",
        name_contains="qwen2.5 coder 0.5b instruct",
        sha256=hashlib.sha256(pins).hexdigest(),
        size=len(pins),
    )
    monkeypatch.setattr(PackagedModel, "part_paths", lambda self: files if self.key == "fake-qwen" else [])
    return model


def test_the_header_reader_finds_architecture_and_name(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes("qwen2", "Qwen2.5 Coder 0.5B Instruct AWQ"))
    assert gguf_metadata(path) == {
        "general.architecture": "qwen2",
        "general.name": "Qwen2.5 Coder 0.5B Instruct AWQ",
    }
    check_metadata(QWEN_CODER_05B, path)
    with pytest.raises(ModelCheckFailed, match="architecture"):
        check_metadata(SMOLLM2_135M, path)


def test_parts_are_joined_once_after_the_checksum_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = gguf_bytes("qwen2", "Qwen2.5 Coder 0.5B Instruct")
    model = fake_model(tmp_path, monkeypatch, content, content)
    joined = assemble(model, tmp_path / "models")
    assert joined.read_bytes() == content
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["fake-qwen.gguf"]  # no staging file left
    assert assemble(model, tmp_path / "models") == joined


def test_parts_that_do_not_hash_to_the_pin_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = gguf_bytes("qwen2", "Qwen2.5 Coder 0.5B Instruct")
    tampered = content[:-1] + b"\1"
    model = fake_model(tmp_path, monkeypatch, tampered, content)
    with pytest.raises(ModelCheckFailed, match="sha256"):
        assemble(model, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_wrong_model_with_the_right_checksum_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = gguf_bytes("qwen2", "Some Other Model")
    model = fake_model(tmp_path, monkeypatch, content, content)
    with pytest.raises(ModelCheckFailed, match="model name"):
        assemble(model, tmp_path / "models")


def test_without_the_default_model_the_fallback_is_used_with_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = dataclasses.replace(QWEN_CODER_05B, parts=(("no_such_package_here", "x.bin"),))
    monkeypatch.setattr(packaged, "DEFAULT", missing)
    with caplog.at_level(logging.WARNING, logger="knowledge.generation.packaged"):
        model, path = default_model(tmp_path / "models")
    assert model is SMOLLM2_135M and path.name.endswith(".gguf")
    assert len(caplog.records) == 1 and "SmolLM2" in caplog.records[0].getMessage()


@pytest.mark.slow
def test_the_installed_default_model_verifies(tmp_path: Path) -> None:
    model, path = default_model(tmp_path / "models")
    assert model is QWEN_CODER_05B and path.stat().st_size == QWEN_CODER_05B.size
    assert gguf_metadata(path)["general.architecture"] == "qwen2"
    assert (Path(packaged.__file__).parent / "LICENSE-Qwen2.5").read_text().count("Apache License") >= 1


@pytest.mark.slow
def test_llama_cpp_loads_the_packaged_model_streams_and_stops_when_cancelled(tmp_path: Path) -> None:
    import threading

    from knowledge.generation.llamacpp import LlamaCppGenerator
    from tests.knowledge.test_generation import MQTT, QUESTION

    generator = LlamaCppGenerator(tmp_path, max_new_tokens=24)
    generator.load()
    assert generator.model_title == QWEN_CODER_05B.title
    pieces = list(generator.stream(QUESTION, MQTT, [], "en"))
    assert len(pieces) > 1 and "1883" in "".join(pieces)
    cancel = threading.Event()
    stopped = []
    for piece in generator.stream(QUESTION, MQTT, [], "en", cancel=cancel):
        stopped.append(piece)
        cancel.set()
    assert len(stopped) <= 2 and generator.last_new_tokens <= 3
