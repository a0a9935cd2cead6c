"""Backups: a consistent copy of the data dir (SQLite database + Chroma folder) while the bot serves.

SQLite files are copied with SQLite's online backup API (a consistent snapshot even while another
process writes); the rest of the Chroma folder is copied file by file. The copy is repeated if the
catalogue changed meanwhile (an ingestion committed), so the database and the index in one backup
belong together. ``restore`` brings a backup into an empty data dir and checks it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.private import make_data_dir_private, make_private
from bot.store import MIGRATIONS, Store, utcnow

if TYPE_CHECKING:
    from bot.app import App

MANIFEST = "learnbot-backup.json"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass
class BackupReport:
    """What a backup holds."""

    path: str
    created_at: str
    schema_version: int
    courses: int
    lessons: int
    learners: int
    bytes: int
    seconds: float
    attempts: int


def _sqlite_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    # the copy is a plain database file: no WAL next to it
    with sqlite3.connect(target) as dst:
        dst.execute("PRAGMA journal_mode=DELETE")


def _copy_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or path.name.endswith(("-wal", "-shm", ".lock")):
            continue
        if path.suffix == ".sqlite3":
            _sqlite_copy(path, target / relative)
        else:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)


def _generation(database: Path) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        row = conn.execute("select value from meta where key = 'catalog_generation'").fetchone()
    return row[0] if row else "0"


def backup(data_dir: Path, dest: Path, attempts: int = 5) -> BackupReport:
    """Copy ``data_dir``'s database and index into ``dest`` (a new or empty folder).

    Raises:
        BackupError: no database in ``data_dir``, ``dest`` not empty, or the catalogue kept changing.
    """
    started = time.perf_counter()
    database = data_dir / "learnbot.db"
    if not database.is_file():
        raise BackupError(f"{data_dir}: no learnbot.db here, nothing to back up")
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest}: not empty; back up into a new folder")
    for attempt in range(1, attempts + 1):  # noqa: B007 - reported below
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        before = _generation(database)
        _sqlite_copy(database, dest / "learnbot.db")
        if (data_dir / "chroma").is_dir():
            _copy_tree(data_dir / "chroma", dest / "chroma")
        if _generation(database) == before:
            break
    else:
        raise BackupError(
            "the catalogue kept changing during the backup (an ingestion is running); try again"
        )
    store = Store(dest / "learnbot.db")
    try:
        report = BackupReport(
            path=str(dest),
            created_at=utcnow(),
            schema_version=store.schema_version,
            courses=len(store.courses()),
            lessons=len(store.lessons()),
            learners=store.db["learners"].count,
            bytes=sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()),
            seconds=time.perf_counter() - started,
            attempts=attempt,
        )
    finally:
        store.close()
    (dest / MANIFEST).write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
    make_private(dest)  # it holds what the data dir holds: 0700 / 0600 whatever the umask
    return report


def restore(src: Path, data_dir: Path) -> dict[str, object]:
    """Copy a backup into an empty ``data_dir``; returns what was restored (checked by the caller's app).

    Raises:
        BackupError: ``src`` is not a backup, ``data_dir`` is not empty, or the backup is too new.
    """
    if not (src / MANIFEST).is_file() or not (src / "learnbot.db").is_file():
        raise BackupError(f"{src}: not a Learnbot backup (no {MANIFEST})")
    if data_dir.exists() and any(p for p in data_dir.iterdir() if p.name != "learnbot.toml"):
        raise BackupError(f"{data_dir}: not empty; restore into a new data dir")
    manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "learnbot.db", data_dir / "learnbot.db")
    if (src / "chroma").is_dir():
        shutil.copytree(src / "chroma", data_dir / "chroma")
    if int(manifest["schema_version"]) > MIGRATIONS[-1][0]:
        shutil.rmtree(data_dir)
        raise BackupError(
            "the backup was made by a newer Learnbot (schema "
            f"{manifest['schema_version']}); upgrade Learnbot before restoring"
        )
    make_data_dir_private(data_dir)
    store = Store(data_dir / "learnbot.db")  # applies the migrations newer than the backup
    try:
        return {"manifest": manifest, "schema_version": store.schema_version, "courses": len(store.courses())}
    finally:
        store.close()


def check(app: App) -> list[str]:
    """Problems with a restored data dir: index counts against the catalogue, and a sample search."""
    problems = []
    expected = sum(lesson.chunk_count for lesson in app.store.lessons()) + sum(
        row[0] for row in app.store.db.execute("select chunk_count from lessons where lesson_id = ''")
    )
    live = app.store.lesson_versions()
    found = [r for r in app.index.records() if live.get((r.chunk.course_id, r.chunk.lesson_id)) == r.version]
    if len(found) != expected:
        problems.append(f"the index holds {len(found)} live chunks; the catalogue expects {expected}")
    if found:
        sample = found[len(found) // 2].chunk
        # the index is what is checked: no answer model is loaded to translate a passage
        hits = app.retriever.without_translation().retrieve(sample.text[:300], k=5)
        if sample.chunk_id not in {h.chunk.chunk_id for h in hits}:
            problems.append("a sample search did not find its own chunk")
    return problems
