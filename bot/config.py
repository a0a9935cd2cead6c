"""Settings: one object, read from ``LEARNBOT_*`` environment variables and an optional TOML file.

Every setting is declared once below, with its default and help; README documents each (a test
checks). Secrets (API keys, bot tokens) are read from the environment only, never from the file.
Precedence: environment > TOML file > default. The file is ``$LEARNBOT_CONFIG`` if set, else
``learnbot.toml`` in the data dir if it exists.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _setting(default: Any, help: str) -> Any:  # noqa: A002 - "help" reads best in the declarations
    return field(default=default, metadata={"help": help})


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """All of Learnbot's settings. Build it with :meth:`Settings.load`."""

    data_dir: Path = _setting(
        Path("data"), "Folder for the SQLite file, the Chroma index and the converted model."
    )
    embedder: str = _setting(
        "",
        "Embedder for a new index: `use` (multilingual) or `minilm` (English). "
        "Empty: the one the index was built with, `use` for a new index.",
    )
    chroma_url: str = _setting(
        "", "URL of a Chroma server (`chroma run`); empty uses the embedded index in the data dir."
    )
    generator: str = _setting(
        "local",
        "Answer back end: `local` (transformers), `openai` (any OpenAI-compatible "
        "server) or `extractive` (no LLM).",
    )
    local_model: str = _setting(
        "",
        "Path to a local transformers model folder or GGUF file; empty uses the packaged "
        "Qwen2.5-Coder-0.5B-Instruct (SmolLM2-135M-Instruct if that is not installed).",
    )
    local_runtime: str = _setting(
        "auto", "How the local model runs: `auto`, `llamacpp` (GGUF, CPU) or `transformers`."
    )
    llm_threads: int = _setting(1, "CPU threads llama.cpp uses to write the local model's answer.")
    llm_prompt_threads: int = _setting(
        0,
        "CPU threads llama.cpp uses to read the prompt before the first word; 0: one per core, at most 8.",
    )
    translate_questions: bool = _setting(
        True,
        "Let the answer model translate a question when the learner's catalogue has lessons only in "
        "another language (one short generation; skipped while the model is busy).",
    )
    answer_deadline_s: float = _setting(
        30.0, "Seconds a generated answer may take; past it the learner gets the quoted passages."
    )
    max_waiting_questions: int = _setting(
        8, "Questions that may wait for the local model; beyond that they get the quoted passages."
    )
    device: str = _setting(
        "auto", "Where the local model runs: `auto` (CUDA with bf16 when present), `cpu` or `cuda`."
    )
    max_new_tokens: int = _setting(200, "Longest answer the LLM may write, in tokens.")
    openai_base_url: str = _setting(
        "", "Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 for vLLM."
    )
    openai_model: str = _setting("", "Model name to ask the OpenAI-compatible server for.")
    chunk_size: int = _setting(800, "Largest chunk, in characters.")
    chunk_overlap: int = _setting(100, "Characters shared by neighbouring chunks of one section.")
    top_k: int = _setting(4, "Passages given to the generator and cited.")
    grounding_threshold: float = _setting(
        0.55,
        "Evidence score (0-1) below which the bot says the course does not "
        "cover the question. See README, Grounding.",
    )
    memory_turns: int = _setting(3, "Earlier question/answer pairs kept per conversation for follow-ups.")
    max_message_chars: int = _setting(4000, "Longest question accepted; longer messages get a clear refusal.")
    questions_per_minute: int = _setting(
        12, "Questions one learner may ask per minute before a polite refusal."
    )
    max_upload_mb: int = _setting(20, "Largest course file an admin may send to the bot, in MiB.")
    max_document_mb: int = _setting(
        10, "Most text one course document may hold, in MB; a bigger one is skipped and reported; 0: no cap."
    )
    admins: str = _setting(
        "",
        "Comma-separated admins as platform:user_id (e.g. `telegram:12345,slack:U0123`); "
        "more with `learnbot admin add`.",
    )
    listen_host: str = _setting(
        "127.0.0.1",
        "Address the HTTP servers (Slack events, Telegram webhook) bind to; "
        "`0.0.0.0` to accept connections from other hosts.",
    )
    telegram_api_url: str = _setting(
        "", "Root URL of a Bot API server (e.g. http://127.0.0.1:8081); empty uses Telegram's own."
    )
    telegram_webhook_url: str = _setting(
        "", "Public HTTPS URL for Telegram webhooks; empty uses long polling."
    )
    telegram_webhook_port: int = _setting(8443, "Local port the Telegram webhook server listens on.")
    slack_api_url: str = _setting(
        "", "Slack Web API base URL (e.g. http://127.0.0.1:8082/api/); empty uses Slack's own."
    )
    slack_port: int = _setting(
        3000, "Port of the Slack Events API HTTP server (when SLACK_APP_TOKEN is not set)."
    )
    max_pushes_per_day: int = _setting(
        3, "Quiz pushes one learner gets per day (their local day) at most, within their active hours."
    )
    nudge_after_days: int = _setting(
        7, "Days of silence after which a learner gets one gentle reminder (once per silence)."
    )
    premium_terms: str = _setting(
        "", "Text of `/terms` (terms of purchase for premium tracks); empty: a built-in default."
    )
    premium_support: str = _setting(
        "", "Text of `/paysupport` (how to get help with a payment); empty: a built-in default."
    )
    log_level: str = _setting("WARNING", "Logging level (DEBUG, INFO, WARNING, ERROR).")
    log_format: str = _setting(
        "text", "Log line format: `text`, or `json` (one object a line, for log shippers)."
    )
    log_message_text: int = _setting(
        0, "1 puts what learners write into the logs (debugging only); 0 logs only its kind and length."
    )
    questions_retention_days: int = _setting(
        365, "Days logged questions are kept; a daily job deletes older ones (0 keeps them forever)."
    )
    health_port: int = _setting(
        0,
        "Port of a separate `/healthz` and `/metrics` server for `learnbot serve` in polling or Socket "
        "Mode (the webhook and Events API servers have them anyway); 0: none.",
    )

    @classmethod
    def load(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from the environment and the optional TOML file.

        Raises:
            SettingsError: a value has the wrong type or the file cannot be read.
        """
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        data_dir = Path(env.get("LEARNBOT_DATA_DIR", "data"))
        config_path = (
            Path(env["LEARNBOT_CONFIG"]) if env.get("LEARNBOT_CONFIG") else data_dir / "learnbot.toml"
        )
        if config_path.is_file():
            try:
                values.update(tomllib.loads(config_path.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{config_path}: not valid TOML ({exc})") from exc
        elif env.get("LEARNBOT_CONFIG"):
            raise SettingsError(f"{config_path}: LEARNBOT_CONFIG names a file that does not exist")
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"{config_path}: unknown setting(s): {', '.join(sorted(unknown))}")
        for name in known:
            key = f"LEARNBOT_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(
            **{f.name: _coerce(f.name, f.type, values[f.name]) for f in fields(cls) if f.name in values}
        )

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self.data_dir / "learnbot.db"

    @property
    def database_url(self) -> str:
        """``LEARNBOT_DATABASE_URL``: PostgreSQL for the state (may hold a password: only from the env)."""
        return os.environ.get("LEARNBOT_DATABASE_URL", "").strip()

    @property
    def database_location(self) -> str | Path:
        """Where the store lives: the PostgreSQL URL when set, else the SQLite file in the data dir."""
        return self.database_url or self.database_path

    @property
    def chroma_path(self) -> Path:
        """The embedded Chroma folder."""
        return self.data_dir / "chroma"

    @property
    def openai_api_key(self) -> str:
        """The OpenAI-compatible server's key: a secret, so only from the environment."""
        return os.environ.get("OPENAI_API_KEY", "")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind == "Path":
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: {value!r} is not a valid {kind}") from exc


def describe_settings() -> list[tuple[str, str, str]]:
    """``(environment variable, default, help)`` for every setting, for docs and ``--help``."""
    return [(f"LEARNBOT_{f.name.upper()}", str(f.default), f.metadata["help"]) for f in fields(Settings)]
