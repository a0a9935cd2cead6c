"""Data rights: /mydata exports every row, /forget erases them everywhere, the ledger stays pseudonymised."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import CliError, cli
from bot.jobs.learning import prune_old_rows
from bot.messages import FileRef, IncomingMessage, Reply
from bot.store import Store
from bot.testing import FakeAdapter, TestBot
from knowledge.index import COLLECTION

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TG, SLACK, NAME = "778899001", "U0ERASEME", "Zyxwv Erasable"
QUESTION_TG = "How long should a passphrase be? marker-q-5521"
QUESTION_SLACK = "marker-slack-8834 what are the signs of phishing?"
NEEDLES = [TG, SLACK, "Zyxwv", "marker-q-5521", "marker-slack-8834"]


def index_mentions(client: Any, needles: Iterable[str], collection: str | None = None) -> list[str]:
    """Record ids in the vector index whose text or metadata contains any of ``needles``.

    Used to prove an erase left nothing in the index; Learnbot writes only course material there.
    """
    wanted = [n for n in needles if n]
    try:
        chroma = client.get_collection(collection or COLLECTION)
    except Exception:  # no index yet: nothing in it
        return []
    hits: list[str] = []
    offset = 0
    while True:
        got = chroma.get(limit=2000, offset=offset, include=["documents", "metadatas"])
        if not got["ids"]:
            return hits
        for rid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            blob = json.dumps([text, meta], ensure_ascii=False)
            if any(n in blob for n in wanted):
                hits.append(rid)
        offset += len(got["ids"])


def say(
    testbot: TestBot,
    platform: str,
    user: str,
    text: str = "",
    *,
    data: str | None = None,
    direct: bool = True,
    file: FileRef | None = None,
) -> list[Reply]:
    chat = user if direct else "C0GROUP"
    message = IncomingMessage(
        platform, user, chat, text, display_name=NAME, callback_data=data, direct=direct, file=file
    )
    return asyncio.run(testbot.app.bot.handle(message))


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    bot = TestBot.build(tmp_path / "data")
    bot.ingest(SAMPLES / "security-basics")
    return bot.at(MONDAY)


def active_learner(testbot: TestBot) -> int:
    """A learner on Telegram and Slack (linked) with progress, a quiz answer, questions, a payment."""
    say(testbot, "telegram", TG, "/enroll security-basics")
    say(testbot, "telegram", TG, "/lesson")
    quiz = say(testbot, "telegram", TG, "/quiz")[0]
    say(testbot, "telegram", TG, data=quiz.buttons[0][0].data)
    say(testbot, "telegram", TG, "/settings tz Europe/Berlin")
    answer = say(testbot, "telegram", TG, QUESTION_TG)[0]
    say(testbot, "telegram", TG, data=answer.buttons[0][0].data)  # "Helpful"
    code = re.search(r"\b(\d{8})\b", say(testbot, "telegram", TG, "/link")[0].text).group(1)
    assert "Done" in say(testbot, "slack", SLACK, f"/link {code}")[0].text
    say(testbot, "slack", SLACK, QUESTION_SLACK)
    say(testbot, "slack", SLACK, "a question in a channel marker-slack-8834", direct=False)
    store = testbot.app.store
    learner_id = store.resolve_learner(f"telegram:{TG}")
    assert learner_id == store.resolve_learner(f"slack:{SLACK}")
    if "payments" in store.db.table_names():  # the premium feature's ledger
        store.db["payments"].insert(
            {
                "telegram_payment_charge_id": "charge-0001",
                "learner_id": learner_id,
                "telegram_user_id": TG,
                "track": "pro",
                "currency": "XTR",
                "amount": 250,
                "payload": f"learner:{learner_id}:pro:1",
                "status": "paid",
                "paid_at": MONDAY.isoformat(),
            }
        )
    if "entitlements" in store.db.table_names():
        store.db["entitlements"].insert(
            {"learner_id": learner_id, "track": "pro", "valid_until": "2026-04-01", "source": "payment"}
        )
    return learner_id


def leftovers(database: Path, learner_id: int) -> list[str]:
    """Every table's every column: any value holding the learner's ids or text."""
    found = []
    with sqlite3.connect(database) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            cursor = conn.execute(f"select * from [{table}]")
            columns = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = value.decode("latin-1") if isinstance(value, bytes) else value
                    if isinstance(text, str) and any(n in text for n in NEEDLES):
                        found.append(f"{table}.{column}: {text[:60]!r}")
                    is_learner = column.endswith("learner_id") or (table == "learners" and column == "id")
                    if is_learner and value == learner_id:
                        found.append(f"{table}.{column} = {learner_id}")
    return found


def test_mydata_sends_every_stored_row_as_a_json_file(testbot):
    learner_id = active_learner(testbot)
    [reply] = say(testbot, "slack", SLACK, "/mydata")
    assert reply.document is not None and reply.document.name.endswith(".json")
    data = json.loads(reply.document.content)
    assert data["learner_id"] == learner_id
    assert {(i["platform"], i["user_id"]) for i in data["identities"]} == {("telegram", TG), ("slack", SLACK)}
    tables = data["tables"]
    for table in (
        "learners",
        "identities",
        "enrollments",
        "progress_events",
        "quiz_attempts",
        "review_cards",
    ):
        assert tables.get(table), f"{table} missing from the export"
    assert {q["question"] for q in tables["questions_log"]} >= {QUESTION_TG, QUESTION_SLACK}
    assert tables["questions_log"][0]["citations"] == [] or isinstance(
        tables["questions_log"][0]["citations"], list
    )
    assert tables["learner_settings"][0]["timezone"] == "Europe/Berlin"
    if "payments" in testbot.app.store.db.table_names():
        assert tables["payments"][0]["telegram_payment_charge_id"] == "charge-0001"
        assert tables["entitlements"][0]["track"] == "pro"


def test_mydata_is_never_posted_in_a_channel(testbot):
    active_learner(testbot)
    [reply] = say(testbot, "slack", SLACK, "/mydata", direct=False)
    assert reply.document is None and "direct message" in reply.text


def test_forget_needs_confirmation_then_erases_every_identity_and_keeps_the_ledger_pseudonymised(testbot):
    store = testbot.app.store
    store.add_admin("telegram", TG)  # an admin's upload: course material in the index, nothing about them
    upload = b"# Badge policy\n\nVisitors wear a red badge and are escorted at all times.\n"

    async def fetch() -> bytes:
        return upload

    learner_id = active_learner(testbot)
    [loaded] = say(testbot, "telegram", TG, file=FileRef("badges.md", len(upload), fetch))
    assert "Loaded course" in loaded.text
    assert testbot.app.bot.state.conversations(), "a follow-up memory is held for the learner's chats"
    assert len(leftovers(store.path, learner_id)) > 20, "the scan sees the learner's rows before /forget"

    [ask] = say(testbot, "slack", SLACK, "/forget")
    assert "cannot be undone" in ask.text and "Payment records are kept" in ask.text
    yes, cancel = ask.buttons[0]
    assert "expired" in say(testbot, "slack", SLACK, data="forget:yes:wrongnonce")[0].text
    assert "Cancelled" in say(testbot, "slack", SLACK, data=cancel.data)[0].text
    assert "expired" in say(testbot, "slack", SLACK, data=yes.data)[0].text, "a cancelled request is gone"
    assert store.resolve_learner(f"telegram:{TG}") == learner_id, "nothing erased without confirmation"

    yes = say(testbot, "slack", SLACK, "/forget")[0].buttons[0][0]
    [done] = say(testbot, "slack", SLACK, data=yes.data)
    assert "deleted everything" in done.text and "2 linked accounts" in done.text

    assert leftovers(store.path, learner_id) == []
    assert index_mentions(testbot.app.chroma, NEEDLES + [NAME]) == []
    assert not [k for k in testbot.app.bot.state.conversations() if k[1] in (TG, SLACK, "C0GROUP")]
    assert store.resolve_learner(f"telegram:{TG}") is None and store.resolve_learner(f"slack:{SLACK}") is None
    if "payments" in store.db.table_names():
        assert "payment record is kept" in done.text and "no longer linked to you" in done.text
        [payment] = list(store.db["payments"].rows)
        assert payment["telegram_payment_charge_id"] == "charge-0001" and payment["amount"] == 250
        assert payment["learner_id"] is None and payment["telegram_user_id"] == "erased"
        assert str(learner_id) not in payment["payload"]
    assert "Visitors wear a red badge" in " ".join(c.text for c in testbot.app.live_records.keyword.chunks)


def test_forget_by_typed_confirmation_for_chats_without_buttons(testbot):
    active_learner(testbot)
    assert "Send /forget first" in say(testbot, "telegram", TG, "/forget confirm")[0].text
    say(testbot, "telegram", TG, "/forget")
    assert "deleted everything" in say(testbot, "telegram", TG, "/forget confirm")[0].text
    assert testbot.app.store.resolve_learner(f"telegram:{TG}") is None


def test_forget_clears_the_caches_outside_the_store(testbot):
    """The Slack adapter's name/DM cache and the fitted recommender hold ids: /forget drops them too."""
    from adapters.slack import SlackAdapter

    learner_id = active_learner(testbot)
    slack = SlackAdapter(testbot.app.bot, bot_token="xoxb-test", signing_secret="secret", port=0)
    testbot.app.bot.attach(slack)  # as App.chat_adapters does
    slack.directory.profiles.add(SLACK, (NAME, "en-US"))
    slack.directory.profiles.add("U0SOMEONEELSE", ("Other", "en-US"))
    slack.directory.dm_channels.add(SLACK, "D0ERASE")
    recommender = testbot.app.bot.recommend.recommender
    recommender.collaborative()
    assert recommender._collab is not None
    reading = testbot.app.bot.state.reading
    reading[(learner_id, "c", "l")] = 2
    reading[(learner_id + 1000, "c", "l")] = 1

    say(testbot, "telegram", TG, "/forget")
    assert "deleted everything" in say(testbot, "telegram", TG, "/forget confirm")[0].text
    assert testbot.app.store.resolve_learner(str(learner_id)) is None
    assert slack.directory.profiles.get(SLACK) is None and slack.directory.dm_channels.get(SLACK) is None
    assert slack.directory.profiles.get("U0SOMEONEELSE") == ("Other", "en-US"), "only the erased learner goes"
    assert recommender._collab is None, "refitted without the learner on next use"
    assert reading == {(learner_id + 1000, "c", "l"): 1}, "the page reached in a lesson goes too"


def test_tables_added_later_are_covered_without_a_list(testbot):
    """Rows in a table another feature adds (here: made up on the spot) are found from the schema."""
    learner_id = active_learner(testbot)
    db = testbot.app.store.db
    db.execute("create table madeup_members (team TEXT, platform TEXT, platform_user_id TEXT)")
    db["madeup_members"].insert({"team": "ops", "platform": "slack", "platform_user_id": SLACK})
    db.execute("create table madeup_notes (manager_learner_id INTEGER, note TEXT)")
    db["madeup_notes"].insert({"manager_learner_id": learner_id, "note": "keeps lessons short"})
    db.execute("create table madeup_other (team TEXT, platform TEXT, platform_user_id TEXT)")
    db["madeup_other"].insert({"team": "ops", "platform": "slack", "platform_user_id": "U0SOMEONEELSE"})
    exported = json.loads(say(testbot, "telegram", TG, "/mydata")[0].document.content)["tables"]
    assert exported["madeup_members"][0]["team"] == "ops" and exported["madeup_notes"][0]["note"]
    assert "madeup_other" not in exported
    say(testbot, "telegram", TG, "/forget")
    say(testbot, "telegram", TG, "/forget confirm")
    assert db["madeup_members"].count == 0 and db["madeup_notes"].count == 0
    assert db["madeup_other"].count == 1, "another learner's row stays"


def test_admin_export_and_erase_on_the_command_line(testbot):
    learner_id = active_learner(testbot)
    runner = CliRunner()
    env = {"LEARNBOT_DATA_DIR": str(testbot.app.settings.data_dir)}
    out = testbot.app.settings.data_dir / "export.json"
    result = runner.invoke(cli, ["learner", "export", f"slack:{SLACK}", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["learner_id"] == learner_id
    printed = runner.invoke(cli, ["learner", "export", str(learner_id)], env=env)
    assert json.loads(printed.stdout)["identities"]
    unknown = runner.invoke(cli, ["learner", "erase", "telegram:000", "--yes"], env=env)
    assert isinstance(unknown.exception, CliError) and "no learner" in str(unknown.exception)
    kept = runner.invoke(cli, ["learner", "erase", str(learner_id)], input="n\n", env=env)
    assert isinstance(kept.exception, CliError)
    erased = runner.invoke(cli, ["learner", "erase", f"telegram:{TG}", "--yes"], env=env)
    assert erased.exit_code == 0 and f"erased learner {learner_id}" in erased.stdout
    assert leftovers(testbot.app.store.path, learner_id) == []


def test_the_daily_job_prunes_old_questions_and_delivery_ids(testbot):
    store: Store = testbot.app.store
    active_learner(testbot)
    now = datetime.now(UTC)
    old = (now - timedelta(days=400)).isoformat(timespec="seconds")
    store.db.execute("update questions_log set created_at = ? where question = ?", [old, QUESTION_TG])
    store.first_delivery("telegram", "1001")
    store.first_delivery("telegram", "1002")
    store.db.execute(
        "update processed_deliveries set created_at = ? where delivery_id = '1001'",
        [(now - timedelta(days=4)).isoformat(timespec="seconds")],
    )
    deps = testbot.app.job_deps({"test": FakeAdapter()})
    assert deps.questions_retention_days == 365
    assert asyncio.run(prune_old_rows(deps, now)) == 2
    assert QUESTION_TG not in {q["question"] for q in store.questions()}
    assert QUESTION_SLACK in {q["question"] for q in store.questions()}
    assert not store.first_delivery("telegram", "1002"), "a recent delivery is still recognised"
    deps.questions_retention_days = 0  # keep forever
    store.db.execute("update questions_log set created_at = ?", [old])
    assert asyncio.run(prune_old_rows(deps, now)) == 0 and store.questions()


def test_the_console_saves_the_export_and_prints_its_path(testbot, tmp_path, monkeypatch):
    from rich.console import Console

    from adapters.console import ConsoleAdapter

    monkeypatch.chdir(tmp_path)
    console = Console(record=True, width=200)
    adapter = ConsoleAdapter(testbot.app.bot, console=console, user="console-user")
    [reply] = asyncio.run(adapter.say("/mydata"))
    saved = tmp_path / reply.document.name
    assert json.loads(saved.read_text())["identities"] == [{"platform": "console", "user_id": "console-user"}]
    assert str(saved) in console.export_text()


def test_erase_leaves_no_trace_of_the_learner_in_the_database_files(testbot):
    """Issue 14 row 4: `learner erase` while serve runs: no text in learnbot.db or -wal afterwards."""
    active_learner(testbot)
    database = testbot.app.store.path
    wal = database.with_name(database.name + "-wal")
    assert any(n.encode() in database.read_bytes() + wal.read_bytes() for n in NEEDLES[2:])
    # the serving process keeps its connection open (testbot's store) while the CLI erases
    env = {"LEARNBOT_DATA_DIR": str(testbot.app.settings.data_dir)}
    erased = CliRunner().invoke(cli, ["learner", "erase", f"telegram:{TG}", "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    raw = database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert [n for n in NEEDLES[2:] if n.encode() in raw] == []
    assert not wal.exists() or wal.stat().st_size == 0
    # and the bot goes on working on the same files
    assert say(testbot, "telegram", "1234", "/courses")[0].text.startswith("Courses")
