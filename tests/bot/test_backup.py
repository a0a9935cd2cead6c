"""Backup while the data dir is in use, restore into an empty one, and check it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bot.app import App
from bot.backup import MANIFEST, BackupError, backup, check, restore
from bot.config import Settings
from bot.testing import HashEmbedder, TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


def test_backup_restore_round_trip(tmp_path):
    live = TestBot.build(tmp_path / "live")
    live.ingest(SAMPLES / "security-basics")
    live.say("What is phishing?")  # a learner and a logged question
    report = backup(tmp_path / "live", tmp_path / "backup")  # the live app still holds its index open
    assert report.courses == 1 and report.lessons == 6 and report.learners == 1
    assert json.loads((tmp_path / "backup" / MANIFEST).read_text())["schema_version"] == report.schema_version

    restored = restore(tmp_path / "backup", tmp_path / "restored")
    assert restored["courses"] == 1
    app = App(Settings.load(env={}, data_dir=tmp_path / "restored"), embedder=HashEmbedder())
    assert check(app) == []
    assert len(app.store.questions()) == 1


def test_refuses_unsafe_targets(tmp_path):
    with pytest.raises(BackupError, match="nothing to back up"):
        backup(tmp_path / "nothing", tmp_path / "b")
    live = TestBot.build(tmp_path / "live")
    live.ingest(SAMPLES / "security-basics-zh")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(BackupError, match="not empty"):
        backup(tmp_path / "live", tmp_path / "full")
    backup(tmp_path / "live", tmp_path / "b")
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "b", tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    with pytest.raises(BackupError, match="not a Learnbot backup"):
        restore(tmp_path / "full", tmp_path / "new")


def test_a_damaged_restore_is_reported(tmp_path):
    live = TestBot.build(tmp_path / "live")
    live.ingest(SAMPLES / "security-basics")
    backup(tmp_path / "live", tmp_path / "b")
    restore(tmp_path / "b", tmp_path / "r")
    app = App(Settings.load(env={}, data_dir=tmp_path / "r"), embedder=HashEmbedder())
    app.index.delete([r.record_id for r in list(app.index.records())[:5]])
    assert any("live chunks" in p for p in check(app))


@pytest.fixture
def open_umask():
    """The loosest umask (000: world-writable), as a careless service unit might set it."""
    before = os.umask(0)
    yield
    os.umask(before)


def modes(root: Path) -> dict[str, str]:
    """Each entry under ``root`` (itself included) whose mode lets anyone but the owner in."""
    return {
        str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in [root, *root.rglob("*")]
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }


def test_the_data_dir_and_backups_are_private_whatever_the_umask(tmp_path, open_umask):
    """Issue 14 row 16: folders 0700 and files 0600 (database, -wal/-shm, index, lock, backup)."""
    live = TestBot.build(tmp_path / "live")
    live.ingest(SAMPLES / "security-basics")
    live.say("What is phishing?")
    data = tmp_path / "live"
    assert (data / "learnbot.db-wal").exists() and (data / "chroma").is_dir()
    assert modes(data) == {}
    backup(data, tmp_path / "backup")
    assert modes(tmp_path / "backup") == {}
    restore(tmp_path / "backup", tmp_path / "restored")
    assert modes(tmp_path / "restored") == {}
    assert stat.S_IMODE((tmp_path / "backup").stat().st_mode) == 0o700


def test_a_data_dir_left_open_by_an_older_release_is_tightened_and_only_learnbots_files(tmp_path):
    data = tmp_path / "data"
    TestBot.build(data).ingest(SAMPLES / "security-basics")
    (data / "notes.sh").write_text("echo mine")
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.name == "notes.sh" else 0o644)
    App(Settings.load(env={}, data_dir=data))
    assert modes(data) == {"notes.sh": "0o755"}
