"""``learnbot migrate-to``: the SQLite data dir copied into PostgreSQL, counts checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from bot.cli import cli
from bot.store import Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _fill(store: Store) -> dict[str, int]:
    course = {"course_id": "c", "title": "C", "language": "en", "track": "", "premium": 0}
    lesson = {
        "lesson_id": "a",
        "title": "A",
        "position": 1,
        "version": "v1",
        "chunk_count": 1,
        "quiz": [{"question": f"Q{n}?", "options": ["x", "y"], "answer": 0} for n in range(3)],
    }
    store.commit_course(course, [lesson])
    learners = [store.learner_for("slack", f"U{n}", f"User {n}") for n in range(20)]
    for learner in learners:
        store.enroll(learner, "c", NOW)
        store.add_progress_event(learner, "c", "a", "started", NOW)
        store.record_chat(learner, "slack", f"D{learner}", True, NOW)
    store.first_delivery("slack", "Ev1")
    store.record_push(
        kind="quiz",
        learner_id=learners[0],
        item_id="i",
        due="d",
        local_day="2026-03-02",
        platform="slack",
        chat_id="D1",
        at=NOW,
    )
    store.save_lesson_tags(
        [{"course_id": "c", "lesson_id": "a", "version": "v1", "keywords": ["k"], "vector": b"\x00\x01"}]
    )
    store.grant(learners[1], "pro", NOW + timedelta(days=3), NOW)
    return {"learners": 20, "enrollments": 20, "chats": 20, "quiz_items": 3, "sent_pushes": 1}


def test_migrate_to_copies_every_table_and_checks_counts(tmp_path, pg_url, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("LEARNBOT_DATA_DIR", str(data))
    source = Store(data / "learnbot.db")
    expected = _fill(source)
    order = [item.question for item in source.quiz_items("c")]
    source.close()

    result = CliRunner().invoke(cli, ["migrate-to", pg_url])
    assert result.exit_code == 0, result.output
    assert "every table's count matches" in result.output

    copied = Store(pg_url)
    for table, count in expected.items():
        assert copied.db[table].count == count, table
    assert [item.question for item in copied.quiz_items("c")] == order
    assert copied.learner_for("slack", "U3") == 4, "ids are kept"
    assert copied.learner_for("slack", "new") == 21, "new ids continue after the copied ones"
    assert copied.first_delivery("slack", "Ev1") is False, "a delivery seen before stays seen"
    assert copied.lesson_tags("c")[0]["vector"] == b"\x00\x01"
    assert copied.entitled_tracks(2, NOW) == frozenset({"pro"})

    again = CliRunner().invoke(cli, ["migrate-to", pg_url])
    assert again.exit_code != 0 and "not empty" in str(again.exception or again.output)


def test_migrate_to_refuses_a_sqlite_target(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNBOT_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["migrate-to", str(tmp_path / "other.db")])
    assert result.exit_code != 0
