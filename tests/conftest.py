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


# -- PostgreSQL: a throwaway database per run, a fresh schema per test ------------------------------

TEST_STORE = os.environ.get("LEARNBOT_TEST_STORE", "")
"""Read at import: the isolation fixture clears every ``LEARNBOT_`` variable before each test."""
PG_ADMIN_URL = os.environ.get("LEARNBOT_TEST_POSTGRES", "postgresql:///postgres")
"""Where the tests may create their database (``.ci/run`` starts the local cluster)."""


@pytest.fixture(scope="session")
def pg_database() -> object:
    """The URL of a database created for this run and dropped after it; skips without PostgreSQL."""
    import uuid

    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL is not there skips the same way
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({type(exc).__name__}): .ci/run starts it"
        pytest.skip(reason)
    name = f"learnbot_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'create database "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


def new_schema_url(database_url: str) -> str:
    """A URL of ``database_url`` whose search path is a new, empty schema."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A PostgreSQL URL whose search path is a schema of its own: an empty database for one test."""
    return new_schema_url(pg_database)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """Where a test's store lives: a SQLite file, then a PostgreSQL schema (the same tests run on both)."""
    if request.param == "sqlite":
        return tmp_path / "learnbot.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def _store_on_postgres(request: pytest.FixtureRequest) -> object:
    """``LEARNBOT_TEST_STORE=postgresql``: every SQLite store a test opens lives in PostgreSQL instead.

    The same file path maps to the same schema within a test, so reopening a store finds its rows.
    A development aid for running the whole suite against PostgreSQL; CI runs the store's own tests
    on both engines through :func:`store_location`.
    """
    if TEST_STORE != "postgresql":
        yield
        return
    from bot import store as store_module

    schemas: dict[str, str] = {}
    original = store_module.Store.__init__

    def redirected(self: object, path: object) -> None:
        key = str(path)
        if key != ":memory:" and not key.startswith("postgres"):
            if key not in schemas:
                schemas[key] = new_schema_url(request.getfixturevalue("pg_database"))
            path = schemas[key]
        original(self, path)

    # Its own patcher: a test's monkeypatch.undo() must not put SQLite back mid-test.
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setattr(store_module.Store, "__init__", redirected)
        yield
