"""The store on both engines: migrations, refusals, and several stores (replicas) on one database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from bot.database import DatabaseUnavailable, describe, redacted_url
from bot.store import MIGRATIONS, SchemaTooNew, Store, quiz_item_id

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _course(store: Store, questions: list[str]) -> None:
    course = {"course_id": "c", "title": "C", "language": "en", "track": "", "premium": 0}
    lesson = {
        "lesson_id": "a",
        "title": "A",
        "position": 1,
        "version": "v1",
        "chunk_count": 1,
        "quiz": [{"question": q, "options": ["x", "y"], "answer": 0} for q in questions],
    }
    store.commit_course(course, [lesson])


def test_a_schema_newer_than_the_code_is_refused(store_location):
    store = Store(store_location)
    store.db.execute(
        "insert into schema_migrations(version, name, applied_at) values (?, ?, ?)",
        [MIGRATIONS[-1][0] + 5, "from the future", "2030-01-01"],
    )
    store.close()
    with pytest.raises(SchemaTooNew, match="newer than this Learnbot knows"):
        Store(store_location)


def test_quiz_order_survives_the_upgrade_that_adds_its_column(store_location, monkeypatch):
    import bot.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:7])
    old = Store(store_location)
    questions = [f"Question {n}?" for n in (3, 1, 2, 9, 5)]  # authored order, not sorted by hash
    _course(old, [])
    for question in questions:  # as the code before the seq column wrote them
        old.db.execute(
            "insert into quiz_items(item_id, course_id, lesson_id, question, options, answer, status, "
            "origin, created_at, updated_at) values (?, 'c', 'a', ?, '[\"x\", \"y\"]', 0, 'approved', "
            "'authored', '2020-01-01T00:00:00+00:00', '2020-01-01T00:00:00+00:00')",
            [quiz_item_id("c", "a", question), question],
        )
    old.close()
    monkeypatch.undo()
    store = Store(store_location)
    assert store.schema_version == MIGRATIONS[-1][0]
    assert [item.question for item in store.quiz_items("c")] == questions
    _course(store, [*questions, "Question 0?"])
    assert [item.question for item in store.quiz_items("c")][-1] == "Question 0?"


def test_linking_merges_rows_and_the_code_learner_keeps_clashing_keys(store_location):
    store = Store(store_location)
    _course(store, ["Q?"])
    target = store.learner_for("slack", "U1")
    other = store.learner_for("telegram", "7")
    for learner in (target, other):
        store.enroll(learner, "c", NOW)
    store.enroll(other, "d", NOW)
    store.create_link_code(target, "CODE", (NOW + timedelta(hours=1)).isoformat())
    assert store.redeem_link_code("CODE", "telegram", "7", NOW.isoformat()) == target
    assert sorted(store.enrollments(target)) == ["c", "d"]
    assert store.learner_for("telegram", "7") == target


def test_erase_and_export_find_rows_from_the_schema(store_location):
    store = Store(store_location)
    learner = store.learner_for("telegram", "42")
    store.enroll(learner, "c", NOW)
    store.record_payment(
        charge_id="ch-1",
        provider_charge_id="",
        learner_id=learner,
        telegram_user_id="42",
        track="pro",
        price_version=1,
        currency="XTR",
        amount=100,
        payload="secret payload",
        kind="one_off",
        period=timedelta(days=30),
        until=None,
        now=NOW,
    )
    assert set(store.learner_rows(learner)) >= {"learners", "identities", "enrollments", "payments"}
    report = store.erase_learner(learner)
    assert report.payments_kept == 1 and report.rows_deleted >= 3
    [payment] = store.payments()
    assert payment["telegram_user_id"] == "erased" and payment["payload"] == "erased"


def test_two_stores_on_one_database_handle_each_delivery_once(store_location):
    """Two replicas' stores: the same delivery and the same new user from both, at once."""
    stores = [Store(store_location), Store(store_location)]
    results: list[bool] = []
    learners: list[int] = []
    barrier = threading.Barrier(2)

    def work(store: Store) -> None:
        barrier.wait()
        for n in range(30):
            results.append(store.first_delivery("slack", f"Ev{n}"))
            learners.append(store.learner_for("slack", f"U{n}"))

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 30 and len(results) == 60
    assert len(set(learners)) == 30
    for n in range(3):
        claimed = [
            s.record_push(
                kind="quiz",
                learner_id=learners[0],
                item_id=f"i{n}",
                due="d",
                local_day="2026-03-02",
                platform="slack",
                chat_id="D1",
                at=NOW,
            )
            for s in stores
        ]
        assert claimed == [True, False]
    [first, *_] = stores[0].claimable_pushes("quiz", NOW, NOW - timedelta(minutes=10))
    wins = [s.claim_push(first.id, f"w{i}", NOW, NOW - timedelta(minutes=10)) for i, s in enumerate(stores)]
    assert wins == [True, False]


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch):
    url = "postgresql://bot:hunter2-secret@127.0.0.1:1/learnbot"
    with pytest.raises(DatabaseUnavailable) as caught:
        Store(url)
    message = str(caught.value)
    assert "127.0.0.1:1/learnbot" in message and "hunter2" not in message and "\n" not in message
    assert describe(url) == "127.0.0.1:1/learnbot"
    assert "hunter2" not in redacted_url(url)

    from bot.cli import main

    monkeypatch.setenv("LEARNBOT_DATABASE_URL", url)
    monkeypatch.setattr("sys.argv", ["learnbot", "courses"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2


def test_cli_reports_a_wrong_url_and_exits_2(monkeypatch, tmp_path):
    from bot.cli import cli

    url = "postgresql://bot:hunter2-secret@127.0.0.1:1/learnbot"
    result = CliRunner().invoke(cli, ["serve", "slack"], env={"LEARNBOT_DATABASE_URL": url})
    assert result.exit_code == 2
    assert "hunter2" not in result.output
