"""The composition root: the only place that builds concrete classes from several packages.

Everything is built lazily from :class:`Settings`, so a command that needs no model loads none.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot.chat.router import Limits, Router
from bot.chat.uploads import ingest_with
from bot.config import Settings, SettingsError
from bot.database import sqlalchemy_url
from bot.health import Health
from bot.messages import ChatAdapter
from bot.private import make_data_dir_private, private_umask
from bot.quiz_workshop import QuizWorkshop
from bot.store import Store
from knowledge.answer import AnswerChain
from knowledge.chunking import Chunker
from knowledge.embedders import Embedder, make_embedder
from knowledge.generation import Generator, make_generator
from knowledge.generation.deadline import AnswerLine
from knowledge.index import COLLECTION, ChromaIndex, Record, rebuild
from knowledge.ingest import Ingestor
from knowledge.models import Chunk
from knowledge.query_translation import QueryTranslator
from knowledge.retrieval import DenseRetriever, FusedRetriever, KeywordRetriever, LiveRecords
from recommender.service import Recommender
from recommender.tags import ContentTags

if TYPE_CHECKING:
    from bot.jobs.pushes import JobDeps
    from bot.scheduler import LearningScheduler

log = logging.getLogger(__name__)
DEFAULT_EMBEDDER = "use+minilm"
_HELD_LOCKS: dict[Path, IO[str]] = {}


class IndexBusy(Exception):
    """Another process has the embedded index open."""


def lock_data_dir(chroma_path: Path) -> None:
    """Hold an exclusive lock on the embedded index for this process's lifetime.

    Chroma's embedded ``PersistentClient`` is not safe across processes (two writers corrupt it,
    a reader in another process sees a stale index), so a second process gets a clear error
    instead. Several processes sharing one index need a Chroma server (``LEARNBOT_CHROMA_URL``).
    """
    path = chroma_path.resolve()
    if path in _HELD_LOCKS:
        return
    handle = open(path.parent / f"{path.name}.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise IndexBusy(
            f"the index in {path} is in use by {owner}; stop it first, or run a Chroma server "
            "(`chroma run`) and set LEARNBOT_CHROMA_URL so several processes can share the index"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"learnbot process {os.getpid()}")
    handle.flush()
    _HELD_LOCKS[path] = handle


class App:
    """Learnbot's parts, wired from settings.

    Args:
        settings: What to build.
        embedder: Use this embedder instead of the one the settings name (tests, benchmarks).
        generator: Use this answer back end instead of the one the settings name.

    Example:
        >>> app = App(Settings.load())
        >>> app.retriever.retrieve("What is MQTT?")
    """

    KEPT_ON_REINDEX = frozenset({"store", "chroma", "chunker", "generator", "answer_line", "health"})
    """The built parts that do not depend on the embedder; :meth:`reindex` rebuilds every other one."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, generator: Generator | None = None
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._generator = generator
        self._index: ChromaIndex | None = None
        # What this process writes into the data dir (database, WAL, index, model) is private, and a
        # data dir left readable by an older release is tightened.
        private_umask()
        make_data_dir_private(settings.data_dir)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    @cached_property
    def store(self) -> Store:
        """The repository: SQLite in the data dir, or PostgreSQL when ``LEARNBOT_DATABASE_URL`` is set."""
        return Store(self.settings.database_location)

    @cached_property
    def chroma(self):  # noqa: ANN201 - chromadb's client types are not public
        """The Chroma client: a server when ``chroma_url`` is set, else the embedded one."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.settings.chroma_url:
            from urllib.parse import urlparse

            url = urlparse(self.settings.chroma_url)
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        self.settings.chroma_path.mkdir(parents=True, exist_ok=True)
        lock_data_dir(self.settings.chroma_path)
        return chromadb.PersistentClient(path=str(self.settings.chroma_path), settings=chroma_settings)

    @property
    def embedder_name(self) -> str:
        """The embedder asked for, else the one the index was built with, else the default."""
        return self.settings.embedder or ChromaIndex.built_by(self.chroma, COLLECTION) or DEFAULT_EMBEDDER

    @cached_property
    def embedder(self) -> Embedder:
        """The sentence embedder (the one given to ``__init__``, else the one the settings name)."""
        return self._embedder if self._embedder is not None else make_embedder(self.embedder_name)

    @cached_property
    def index(self) -> ChromaIndex:
        """The vector index (raises ``IndexMismatch`` if built by another embedder)."""
        return self._index if self._index is not None else ChromaIndex(self.chroma, self.embedder)

    @cached_property
    def chunker(self) -> Chunker:
        """The heading-aware chunker."""
        return Chunker(self.settings.chunk_size, self.settings.chunk_overlap)

    @cached_property
    def ingestor(self) -> Ingestor:
        """Loads courses into the index and the catalogue."""
        return Ingestor(self.index, self.embedder, self.store, self.chunker)

    @cached_property
    def live_records(self) -> LiveRecords:
        """Live chunk records and the keyword index over them."""
        return LiveRecords(self.index, self.store.lesson_versions, self.store.catalog_generation)

    @cached_property
    def dense_retriever(self) -> DenseRetriever:
        """Embedding search."""
        return DenseRetriever(self.live_records, self.embedder)

    @cached_property
    def keyword_retriever(self) -> KeywordRetriever:
        """BM25 search."""
        return KeywordRetriever(self.live_records)

    @cached_property
    def retriever(self) -> FusedRetriever:
        """The default retriever: dense and keyword fused, with the answer model's translations."""
        return FusedRetriever(self.dense_retriever, self.keyword_retriever, translator=self.query_translator)

    @cached_property
    def query_translator(self) -> QueryTranslator | None:
        """The answer model as a translator of questions (``None``: no LLM, or switched off)."""
        if not self.settings.translate_questions or not callable(getattr(self.generator, "chat", None)):
            return None
        return QueryTranslator(self.generator, self.answer_line)

    @cached_property
    def answer_line(self) -> AnswerLine:
        """The bounded line for the answer model, shared by answers and question translations."""
        return AnswerLine(self.settings.max_waiting_questions)

    @cached_property
    def generator(self) -> Generator:
        """The answer back end given to ``__init__``, else the one the ``generator`` setting names."""
        if self._generator is not None:
            return self._generator
        s = self.settings
        return make_generator(
            s.generator,
            data_dir=s.data_dir,
            local_model=s.local_model,
            device=s.device,
            max_new_tokens=s.max_new_tokens,
            openai_base_url=s.openai_base_url,
            openai_model=s.openai_model,
            openai_api_key=s.openai_api_key,
            runtime=s.local_runtime,
            threads=s.llm_threads,
            prompt_threads=s.llm_prompt_threads,
        )

    @cached_property
    def answers(self) -> AnswerChain:
        """The cited-answer chain."""
        return AnswerChain(
            self.retriever,
            self.generator,
            lambda: self.live_records.keyword,
            threshold=self.settings.grounding_threshold,
            top_k=self.settings.top_k,
            deadline_s=self.settings.answer_deadline_s,
            line=self.answer_line,
        )

    def prepare_search(self) -> None:
        """Load the index, and what a Chinese question needs (the bilingual dictionary, jieba's name tagger).

        Any learner may ask in Chinese, so both load at start-up (about 5 s and 100 MB together), never
        inside a first question. So do the embedding models (and MiniLM's ONNX export, ~3 s).
        """
        self.live_records.refresh()
        self.embedder.embed_query("What does a sensor measure?")
        from knowledge.crosslingual import dictionary
        from knowledge.text import strip_noise

        if "en" in self.live_records.languages():
            dictionary()
        strip_noise("张伟：什么是传感器？")

    def prepare_generator(self, say: Callable[[str], None]) -> None:
        """Load (and on first use assemble or convert) the local model now, at start-up, saying so."""
        load = getattr(self.generator, "load", None)
        if load is not None:
            started = time.perf_counter()
            say("Loading the answer model (once per start)…")
            load()
            say(f"Answer model ready in {time.perf_counter() - started:.0f} s.")

    def lesson_chunks(self, course_id: str, lesson_id: str) -> list[Chunk]:
        """The live chunks of one lesson in reading order (lesson summaries, quiz citations)."""
        chunks = self.live_records.keyword.chunks
        return sorted(
            (c for c in chunks if c.course_id == course_id and c.lesson_id == lesson_id),
            key=lambda c: c.position,
        )

    @cached_property
    def recommender(self) -> Recommender:
        """Next lessons with reasons, over the store's learner records and the lessons' content tags."""
        tags = ContentTags(self.store, self.lesson_chunks, lambda: self.embedder)
        return Recommender(self.store, tags, lambda: self.embedder)

    @cached_property
    def bot(self) -> Router:
        """The conversation router (every chat adapter hands it messages)."""
        s = self.settings
        limits = Limits(
            s.max_message_chars, s.memory_turns, s.questions_per_minute, s.max_upload_mb * 1024 * 1024
        )
        admins = frozenset(a.strip() for a in s.admins.split(",") if a.strip())
        bot = Router(
            self.store,
            self.answers,
            limits,
            ingest=lambda path, course_id: ingest_with(
                self.ingestor, path, course_id, s.max_document_mb * 1_000_000 or None
            ),
            admins=admins,
            lesson_chunks=self.lesson_chunks,
            recommender=self.recommender,
            topics=self.recommender,  # /courses and the lesson view name each course's and lesson's topics
        )
        bot.premium.terms = s.premium_terms or bot.premium.terms
        bot.premium.support = s.premium_support or bot.premium.support
        return bot

    @cached_property
    def health(self) -> Health:
        """``/healthz`` (the database and the index answer) and ``/metrics``, for the HTTP servers."""
        return Health.readiness(self.settings.database_location, lambda: self.index.count())

    @cached_property
    def quizzes(self) -> QuizWorkshop:
        """Generated quiz items: drafted from the live chunks by the answer back end, reviewed by an admin."""
        return QuizWorkshop(self.store, lambda: self.live_records.keyword, lambda: self.generator)

    def reindex(self, embedder_name: str, progress=None) -> int:  # noqa: ANN001
        """Rebuild every live chunk's vector with another embedder; returns the number of chunks."""
        built_by = ChromaIndex.built_by(self.chroma, COLLECTION) or embedder_name
        old = ChromaIndex(self.chroma, make_embedder(built_by))  # embedders load their model lazily
        live = self.store.lesson_versions()
        records: list[Record] = [
            r for r in old.records() if live.get((r.chunk.course_id, r.chunk.lesson_id)) == r.version
        ]
        embedder = make_embedder(embedder_name)
        index = rebuild(self.chroma, embedder, records, progress)
        for name, value in vars(type(self)).items():  # what was built on the old embedder goes
            if isinstance(value, cached_property) and name not in self.KEPT_ON_REINDEX:
                self.__dict__.pop(name, None)
        self._embedder, self._index = embedder, index
        return len(records)

    def job_deps(self, adapters: Mapping[str, ChatAdapter]) -> JobDeps:
        """What the scheduled jobs use: the store, the learning chat's wording, adapters by platform."""
        from bot.jobs.pushes import JobDeps

        s = self.settings
        return JobDeps(
            self.store,
            self.bot.learning,
            adapters,
            max_pushes_per_day=s.max_pushes_per_day,
            nudge_after_days=s.nudge_after_days,
            questions_retention_days=s.questions_retention_days,
            recommend=lambda learner, now: self.recommender.recommend(learner, 3, now),
        )

    def learning_scheduler(self, adapters: Mapping[str, ChatAdapter]) -> LearningScheduler:
        """The scheduled jobs (due quizzes, feedback, nudges), kept in the store's database.

        On PostgreSQL only the replica holding the scheduler lock runs them (:mod:`bot.leader`).
        """
        from bot.leader import elect
        from bot.scheduler import LearningScheduler

        location = self.settings.database_location
        return elect(LearningScheduler(self.job_deps(adapters), sqlalchemy_url(location)), location)

    def chat_adapters(self, which: str) -> list:
        """The chat front doors for ``learnbot serve`` (``telegram``, ``slack`` or ``all``), from settings.

        Tokens and secrets come from the environment only, under the platforms' own names.

        Raises:
            SettingsError: a needed token is not set, or ``which`` is unknown.
        """
        from adapters.slack import SlackAdapter
        from adapters.telegram import TelegramAdapter

        if which not in ("telegram", "slack", "all"):
            raise SettingsError(f"serve what? telegram, slack or all, not {which!r}")
        s, env = self.settings, os.environ
        adapters: list = []
        if which in ("telegram", "all"):
            if not env.get("TELEGRAM_BOT_TOKEN"):
                raise SettingsError("TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave you)")
            adapters.append(
                TelegramAdapter(
                    self.bot,
                    token=env["TELEGRAM_BOT_TOKEN"],
                    api_url=s.telegram_api_url,
                    webhook_url=s.telegram_webhook_url,
                    webhook_secret=env.get("LEARNBOT_TELEGRAM_WEBHOOK_SECRET", ""),
                    webhook_listen=s.listen_host,
                    webhook_port=s.telegram_webhook_port,
                    health=self.health,
                )
            )
        if which in ("slack", "all"):
            missing = [name for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET") if not env.get(name)]
            if missing:
                raise SettingsError(f"{' and '.join(missing)} not set (see README, Slack)")
            adapters.append(
                SlackAdapter(
                    self.bot,
                    bot_token=env["SLACK_BOT_TOKEN"],
                    signing_secret=env["SLACK_SIGNING_SECRET"],
                    app_token=env.get("SLACK_APP_TOKEN", ""),
                    api_url=s.slack_api_url,
                    port=s.slack_port,
                    host=s.listen_host,
                    health=self.health,
                )
            )
        for adapter in adapters:  # what each can do beyond text: Telegram refunds, Slack's caches
            self.bot.attach(adapter)
        return adapters
