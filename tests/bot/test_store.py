from bot.store import MIGRATIONS, Store
from bot.store.rows import CourseRow


def test_migrations_are_numbered_and_idempotent(tmp_path):
    path = tmp_path / "learnbot.db"
    store = Store(path)
    assert store.schema_version == MIGRATIONS[-1][0]
    store.close()
    again = Store(path)
    assert again.migrate() == []  # nothing left to apply
    assert again.db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_learner_identity_is_created_once(store_location):
    store = Store(store_location)
    first = store.learner_for("telegram", "42", "Ada")
    assert store.learner_for("telegram", "42") == first
    assert store.learner_for("slack", "42") != first


def test_commit_course_replaces_lessons_atomically(store_location):
    store = Store(store_location)
    course = {
        "course_id": "c",
        "title": "C",
        "language": "en",
        "track": "",
        "premium": 0,
        "description": "",
        "desired_retention": 0.9,
        "source": "/x",
        "lesson_count": 2,
        "chunk_count": 3,
        "ingested_at": "now",
    }
    lessons = [
        {
            "lesson_id": "a",
            "title": "A",
            "position": 0,
            "module": "",
            "objectives": ["x"],
            "minutes": 5,
            "prerequisites": [],
            "version": "v1",
            "chunk_count": 2,
        },
        {
            "lesson_id": "b",
            "title": "B",
            "position": 1,
            "module": "",
            "objectives": [],
            "minutes": None,
            "prerequisites": ["a"],
            "version": "v1",
            "chunk_count": 1,
        },
    ]
    generation = store.catalog_generation()
    store.commit_course(course, lessons)
    assert store.catalog_generation() != generation
    assert store.lesson_versions() == {("c", "a"): "v1", ("c", "b"): "v1"}
    assert store.lessons("c")[1].prerequisites == ["a"]
    assert store.courses() == [store.course("c")]
    assert store.course("c") == CourseRow("c", "C", "en", "", False, "", 0.9, "/x", 2, 3, "now")
    assert store.course("missing") is None
    try:
        with store.transaction():
            store.commit_course(course, lessons[:1])
            raise RuntimeError("crash inside the transaction")
    except RuntimeError:
        pass
    assert set(store.lesson_versions()) == {("c", "a"), ("c", "b")}
    assert store.delete_course("c") is True
    assert store.delete_course("c") is False
    assert store.lesson_versions() == {}


def test_a_course_row_reads_nulls_and_missing_columns_as_empty():
    row = {"course_id": "c", "title": "C", "track": None, "premium": 1, "desired_retention": None}
    course = CourseRow.from_row(row)
    assert (course.track, course.premium, course.desired_retention, course.lesson_count) == (
        "",
        True,
        None,
        0,
    )
    assert (course.title, course.language, course.source) == ("C", "", "")


def test_questions_log(store_location):
    store = Store(store_location)
    qid = store.log_question(
        learner_id=1,
        platform="console",
        question="q?",
        answer="a [1]",
        grounded=True,
        language="en",
        citations=[{"n": 1}],
        latency_ms=12.5,
    )
    rows = store.questions(1)
    assert rows[0]["id"] == qid and rows[0]["grounded"] == 1


def test_migration_3_applies_on_a_version_2_database(store_location, monkeypatch):
    import bot.store as store_module

    path = store_location
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:2])
    Store(path).close()
    monkeypatch.undo()
    store = Store(path)
    assert store.schema_version == MIGRATIONS[-1][0]  # 3 and every later one
    assert {"enrollments", "review_cards", "quiz_items", "learner_settings"} <= set(store.db.table_names())


def test_due_cards_query_uses_the_due_index(tmp_path):
    from datetime import UTC, datetime

    store = Store(tmp_path / "db.sqlite")
    plan = store.db.execute(
        "explain query plan select * from review_cards where due <= ? order by due",
        [datetime(2026, 1, 1, tzinfo=UTC).isoformat()],
    ).fetchall()
    assert any("idx_review_cards_due" in str(row) for row in plan)


def test_quiz_item_ids_are_stable_and_fold_whitespace():
    from bot.store import quiz_item_id

    assert quiz_item_id("c", "l", "What is  it?") == quiz_item_id("c", "l", " What is it? ")
    assert quiz_item_id("c", "l", "What is it?") != quiz_item_id("c", "m", "What is it?")
