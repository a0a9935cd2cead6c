"""Backup while the data dir is in use, restore into an empty one, and check it."""

from __future__ import annotations

import json
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
    app = App(Settings.load(env={}, data_dir=tmp_path / "restored"))
    app.__dict__["embedder"] = HashEmbedder()
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
    app = App(Settings.load(env={}, data_dir=tmp_path / "r"))
    app.__dict__["embedder"] = HashEmbedder()
    app.index.delete([r.record_id for r in list(app.index.records())[:5]])
    assert any("live chunks" in p for p in check(app))
