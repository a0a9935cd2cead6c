"""Managers' digests: numbers for a team seeded with known events, the chart, access, the job, the CLI."""

from __future__ import annotations

import asyncio
import re
import struct
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from bot.jobs.digest import send_digests
from bot.jobs.pushes import JobDeps
from bot.testing import FakeAdapter, TestBot
from recommender.chart import DPI, HEIGHT, WIDTH
from recommender.digest import build_digest, may_get_digest
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
COURSE = "security-basics"
GAP = "How do I reset the VPN token?"


@pytest.fixture
def team(tmp_path) -> TestBot:
    """Team "sales": Alice (busy this week), Bob (silent for 40 days, wrong answers), Carol (just joined)."""
    testbot = TestBot.build(tmp_path / "data").at(NOW)
    testbot.ingest(SAMPLES / COURSE)
    store, loop = testbot.app.store, testbot.app.bot.learning.loop
    store.create_team("sales", "Sales")
    people = {}
    for name, joined in (("alice", 20), ("bob", 50), ("carol", 3), ("dave", 20)):
        people[name] = learner = store.learner_for("test", name, name.title())
        loop.enroll(learner, COURSE, NOW - timedelta(days=joined))
        if name != "dave":
            store.add_team_member("sales", learner, NOW)
    items = store.quiz_items(COURSE, lesson_id="phishing")
    alice, bob = people["alice"], people["bob"]
    for n, lesson in enumerate(("phishing", "passwords")):
        loop.mark_done(alice, COURSE, lesson, NOW - timedelta(days=2 + n))
    for n, chosen in enumerate((items[0].answer, items[1].answer, (items[2].answer + 1) % 4)):
        loop.answer(alice, items[n].item_id, chosen % len(items[n].options), NOW - timedelta(days=1))
    loop.mark_done(bob, COURSE, "phishing", NOW - timedelta(days=40))
    loop.answer(
        bob, items[0].item_id, (items[0].answer + 1) % len(items[0].options), NOW - timedelta(days=40)
    )
    loop.mark_done(people["dave"], COURSE, "phishing", NOW - timedelta(days=1))  # not in the team
    for _ in range(2):
        store.log_question(
            learner_id=alice,
            platform="test",
            question=GAP,
            answer="",
            grounded=False,
            language="en",
            citations=[],
            latency_ms=1.0,
        )
    store.log_question(
        learner_id=alice,
        platform="test",
        question="What is phishing?",
        answer="...",
        grounded=True,
        language="en",
        citations=[],
        latency_ms=1.0,
    )
    return testbot


def test_the_digest_counts_the_seeded_week(team):
    digest = build_digest(team.app.store, "sales", NOW)
    assert (digest.members, digest.active, digest.lessons_done) == (3, 1, 2)
    assert (digest.answers, digest.correct) == (3, 2)
    assert digest.unanswered == [(GAP, 2)]
    assert digest.retention is not None and 0 < digest.retention <= 1
    assert [r.name for r in digest.at_risk] == ["Bob"], "Carol is new; Alice is doing well"
    assert {"no activity for 40 days", "6 of 6 lessons expected by now not done"} & set(
        digest.at_risk[0].reasons
    ) or any(r.startswith("5 of 6") for r in digest.at_risk[0].reasons)
    assert digest.weeks[-1][1:3] == (1, 2) and len(digest.weeks) == 8
    text = digest.text()
    assert "Active learners: 1 of 3" in text and "Lessons completed: 2" in text and "67% of 3" in text
    assert f"- {GAP} (2x)" in text and "1. Bob (Security Basics for Employees): " in text
    rows = digest.csv().splitlines()
    assert rows[0].startswith("learner_id,name,active") and len(rows) == 4


def test_a_manager_sees_who_has_not_started_completion_change_and_the_most_missed_items(team):
    store, loop = team.app.store, team.app.bot.learning.loop
    erin = store.learner_for("test", "erin", "Erin")
    loop.enroll(erin, COURSE, NOW - timedelta(days=46))
    store.add_team_member("sales", erin, NOW)
    carol = store.learner_for("test", "carol")
    item = store.quiz_items(COURSE, lesson_id="phishing")[0]
    loop.answer(carol, item.item_id, (item.answer + 1) % len(item.options), NOW - timedelta(hours=2))
    digest = build_digest(store, "sales", NOW)
    text = digest.text()
    assert "Not started: 1\n- Erin (Security Basics for Employees): enrolled 46 days ago" in text
    erin_row = next(r for r in digest.at_risk if r.name == "Erin")
    assert erin_row.reasons[0] == "has not opened a lesson in 46 days", "listed, and that reason first"
    assert "- Alice: 2 of 6 lessons (33%)" in text and "- Erin: 0 of 6 lessons (0%)" in text
    assert "Active learners: 2 of 4 (+2 on last week)" in text, "nobody was active the week before"
    assert "Lessons completed: 2 (+2 on last week)" in text
    assert digest.missed[0][0] == item.question and digest.missed[0][2:] == (3, 1)
    assert f"({digest.missed[0][1]}): 1 of 3 right" in text and "Most-missed quiz items:" in text
    first = text.split("At risk:")[1].split("\n")[1]
    assert re.match(r"1\. \w+ \(Security Basics for Employees\): (\d+ of \d+ )?[a-z]", first), (
        "a rank and reasons, not a probability"
    )
    header, *rows = digest.csv().splitlines()
    assert f"{COURSE}/phishing" in header and "completion" in header
    alice = next(r for r in rows if ",Alice," in r)
    assert alice.endswith(",done,done,,,,"), "per lesson: phishing and passwords done"


def test_the_chart_legend_sits_below_the_bars(team):
    from recommender.chart import progress_figure

    digest = build_digest(team.app.store, "sales", NOW)
    fig = progress_figure("t", [w[0] for w in digest.weeks], [9] * 8, [9] * 8, [0.5] * 8)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    axes = fig.axes[0].get_window_extent(renderer)
    assert legend.y1 < axes.y0, "the legend is under the plot, never over the tallest bars"


def test_the_chart_is_a_png_of_the_expected_size(team):
    png = build_digest(team.app.store, "sales", NOW).chart()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (WIDTH * DPI, HEIGHT * DPI)


def test_only_the_teams_manager_or_an_admin_gets_its_digest(team):
    store = team.app.store
    store.create_team("ops", "Ops")
    store.add_team_manager("sales", "test", "boss", NOW)
    store.add_team_manager("ops", "test", "other-boss", NOW)
    assert may_get_digest(store, "sales", "test", "boss", is_admin=False)
    assert not may_get_digest(store, "sales", "test", "other-boss", is_admin=False)
    assert may_get_digest(store, "sales", "test", "anyone", is_admin=True)
    team.user = "boss"
    reply = team.say("/digest")
    assert reply.text.startswith("Weekly digest: Sales") and reply.image[:4] == b"\x89PNG"
    team.user = "other-boss"
    assert "Only the team's managers and admins" in team.say("/digest sales").text
    assert team.say("/digest sales").image is None
    team.user = "alice"
    assert "Digests are for team managers" in team.say("/digest").text
    store.add_admin("test", "root")
    team.user = "root"
    assert team.say("/digest sales").text.startswith("Weekly digest: Sales")


def test_the_weekly_job_sends_each_manager_one_digest_with_the_chart(team):
    store = team.app.store
    store.add_team_manager("sales", "test", "boss", NOW)
    adapter = FakeAdapter("test")
    deps = JobDeps(store, team.app.bot.learning, {"test": adapter})
    assert asyncio.run(send_digests(deps, NOW)) == 0, "no known chat with this manager yet"
    team.user = "boss"
    team.say("/help", chat="dm-boss")
    assert asyncio.run(send_digests(deps, NOW)) == 1
    assert asyncio.run(send_digests(deps, NOW + timedelta(hours=1))) == 0, "once per week"
    chat_id, reply = adapter.sent[0]
    assert chat_id == "dm-boss" and reply.text.startswith("Weekly digest: Sales") and reply.image
    assert asyncio.run(send_digests(deps, NOW + timedelta(days=7))) == 1, "next week, the next one"


def test_cli_teams_managers_and_digest_export(team, monkeypatch, tmp_path):
    from bot.cli import cli

    monkeypatch.setenv("LEARNBOT_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(cli, ["team", "add", "support", "--name", "Support"]).exit_code == 0
    assert (
        "added to team support"
        in runner.invoke(cli, ["team", "member", "add", "support", "telegram:42"]).output
    )
    assert "now manages" in runner.invoke(cli, ["manager", "add", "support", "slack:U0BOSS"]).output
    bad = runner.invoke(cli, ["manager", "add", "support", "console:me"])
    assert bad.exit_code != 0 and "slack or telegram" in str(bad.exception)
    missing = runner.invoke(cli, ["digest", "--team", "nope"])
    assert "there is no team 'nope'" in str(missing.exception)
    md = runner.invoke(cli, ["digest", "--team", "sales", "--chart", str(tmp_path / "c.png")])
    assert (
        md.exit_code == 0
        and md.output.startswith("# Weekly digest: Sales")
        and "| week starting |" in md.output
    )
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    csv = runner.invoke(cli, ["digest", "--team", "sales", "--format", "csv"])
    assert csv.output.splitlines()[0].startswith("learner_id,") and len(csv.output.splitlines()) == 4


async def test_a_telegram_manager_gets_the_digest_as_a_photo_through_the_bot_api(team):
    from adapters.fakes.telegram import TOKEN, FakeTelegram
    from adapters.telegram import TelegramAdapter

    team.app.store.add_team_manager("sales", "telegram", "42", NOW)
    async with FakeTelegram() as server:
        telegram = TelegramAdapter(team.app.bot, token=TOKEN, api_url=server.root, poll_timeout=1)
        await telegram.start()
        try:
            deps = JobDeps(team.app.store, team.app.bot.learning, {"telegram": telegram})
            assert await send_digests(deps, NOW) == 1, "a manager who never wrote still gets it"
            [photo] = await server.wait_for("sendPhoto")
        finally:
            await telegram.stop()
    assert str(photo.params["chat_id"]) == "42"
    shown = photo.params.get("caption") or server.calls_to("sendMessage")[-1].params["text"]
    assert "Weekly digest: Sales" in shown


async def test_a_slack_manager_who_never_wrote_gets_the_digest_and_chart_in_a_dm_slack_opened(team):
    from adapters.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
    from adapters.slack import SlackAdapter

    team.app.store.add_team_manager("sales", "slack", "U0BOSS", NOW)
    assert team.app.store.push_chats([team.app.store.learner_for("slack", "U0BOSS")], ["slack"]) == {}
    async with FakeSlack() as server:
        slack = SlackAdapter(
            team.app.bot, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=server.api_url, port=0
        )
        await slack.start()
        try:
            deps = JobDeps(team.app.store, team.app.bot.learning, {"slack": slack})
            assert await send_digests(deps, NOW) == 1, "a manager who never wrote still gets it"
            assert await send_digests(deps, NOW + timedelta(hours=1)) == 0, "once per week"
            [complete] = await server.wait_for("files.completeUploadExternal")
        finally:
            await slack.stop()
    assert server.opened == ["U0BOSS"], "the DM is opened with conversations.open"
    [message] = server.calls_to("chat.postMessage")
    assert message.params["channel"] == "D0BOSS" and "Weekly digest: Sales" in message.params["text"]
    assert complete.params["channel_id"] == "D0BOSS"
    [chart] = server.uploads.values()
    assert chart[:4] == b"\x89PNG"
