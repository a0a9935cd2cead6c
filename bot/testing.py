"""Fakes at the seams, so a core test reads like a conversation.

Example:
    >>> testbot = TestBot.build(tmp_path)
    >>> testbot.ingest(course_folder)
    >>> reply = testbot.say("What is phishing?")
    >>> assert reply.citations
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from bot.app import App
from bot.config import Settings
from bot.messages import IncomingMessage, Reply
from knowledge.generation import Turn
from knowledge.loaders import load_course
from knowledge.models import ScoredChunk
from knowledge.text import tokenize


class HashEmbedder:
    """A deterministic bag-of-words embedder: texts sharing words get similar vectors. No model."""

    name = "hash"
    dimension = 256

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Hash each token into one of 256 buckets, then normalise."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                bucket = int(hashlib.md5(token.encode()).hexdigest()[:8], 16) % self.dimension
                vectors[row, bucket] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question."""
        return self.embed_documents([text])[0]


class FakeGenerator:
    """Answers with the first sentence of the best passage, citing it as [1]; records its calls."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[ScoredChunk], list[Turn], str]] = []

    def generate(
        self, question: str, passages: Sequence[ScoredChunk], history: Sequence[Turn], language: str
    ) -> str:
        """Return the first sentence of passage 1 with a citation."""
        self.calls.append((question, list(passages), list(history), language))
        first = passages[0].chunk.text.split(". ")[0].strip().rstrip(".")
        return f"{first}. [1]"


class FakeAdapter:
    """A chat platform that records what the bot sends it (pushes, digests); it can be told to fail.

    Example:
        >>> adapter = FakeAdapter("test")
        >>> await push_due_quizzes(app.job_deps({"test": adapter}), now)
        >>> chat_id, reply = adapter.sent[0]
    """

    def __init__(self, platform: str = "test") -> None:
        self.platform = platform
        self.sent: list[tuple[str, Reply]] = []
        self.failures = 0
        """Sends still to fail (each raises ``ConnectionError``), like a platform that is down."""

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Record the reply (after yielding, so overlapping senders interleave as on a network)."""
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the platform is unreachable")
        self.sent.append((chat_id, reply))

    def texts(self) -> list[str]:
        """The text of every reply sent, in order."""
        return [reply.text for _, reply in self.sent]


class TestBot:
    """A real :class:`App` (SQLite file, Chroma in a temp folder) with fakes for the models."""

    __test__ = False  # not a pytest class

    def __init__(self, app: App, user: str = "learner-1") -> None:
        self.app = app
        self.user = user

    @classmethod
    def build(
        cls,
        data_dir: Path,
        embedder: object | None = None,
        generator: object | None = None,
        **settings: object,
    ) -> TestBot:
        """An app in ``data_dir`` whose embedder and generator are the fakes unless given."""
        app = App(
            Settings.load(env={}, data_dir=data_dir, **settings),
            embedder=embedder or HashEmbedder(),
            generator=generator or FakeGenerator(),
        )
        return cls(app)

    def ingest(self, folder: Path) -> None:
        """Load a course folder."""
        self.app.ingestor.ingest(load_course(folder))

    def say(self, text: str, platform: str = "test", chat: str = "chat-1") -> Reply:
        """Send a message and return the first reply."""
        return self.say_all(text, platform, chat)[0]

    def say_all(self, text: str, platform: str = "test", chat: str = "chat-1") -> list[Reply]:
        """Send a message and return every reply."""
        message = IncomingMessage(platform, self.user, chat, text)
        return asyncio.run(self.app.bot.handle(message))

    def press(self, data: str, platform: str = "test", chat: str = "chat-1") -> Reply:
        """Press a button (its callback data) and return the first reply."""
        message = IncomingMessage(platform, self.user, chat, callback_data=data)
        return asyncio.run(self.app.bot.handle(message))[0]

    def at(self, moment: datetime) -> TestBot:
        """Fix the wall clock the learning loop sees (lessons, quizzes, progress) at ``moment``."""
        self.app.bot.now = lambda: moment
        return self
