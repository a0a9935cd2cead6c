"""The Slack front door: the real bolt ``AsyncApp`` served over HTTP on 127.0.0.1, receiving signed
requests, with its Web API client pointed at a local fake Slack (adapters/fakes/slack.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier

from adapters.fakes.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    action_payload,
    action_request,
    command_request,
    dm,
    envelope,
    event_request,
    file_shared,
    mention,
    post,
    signature,
    signed,
)
from adapters.slack import (
    LOOKING_IT_UP,
    READING_FILE,
    SORRY,
    SlackAdapter,
    command_text,
    plain_text,
)
from adapters.slack_render import escape, render, split_text, to_mrkdwn
from bot.messages import Button, IncomingMessage, LearnerCache, Reply, StarRefunds
from bot.testing import FakeGenerator, TestBot
from knowledge.answer import Citation
from knowledge.models import location
from tests.adapters.stacks import slack_stack, until

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

pytestmark = pytest.mark.integration


class RecordingBot:
    """The real core, remembering what reached it and what it answered."""

    def __init__(self, bot) -> None:
        self.bot = bot
        self.received: list[IncomingMessage] = []
        self.replies: list[list[Reply]] = []

    @property
    def commands(self):
        return self.bot.commands

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        self.received.append(message)
        replies = await self.bot.handle(message)
        self.replies.append(replies)
        return replies


def texts(blocks: list[dict], kind: str) -> list[str]:
    out = []
    for block in blocks:
        if block["type"] == kind == "section":
            out.append(block["text"]["text"])
        elif block["type"] == kind == "context":
            out.extend(e["text"] for e in block["elements"])
    return out


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = TestBot.build(tmp_path_factory.mktemp("data"), grounding_threshold=0.3)
    bot.ingest(SAMPLES / "security-basics")
    return bot


@pytest.fixture
def core(testbot) -> RecordingBot:
    return RecordingBot(testbot.app.bot)


@pytest.fixture
async def adapter(core, slack):
    async with slack_stack(core, slack) as adapter:
        yield adapter


async def test_dm_question_is_answered_in_place_of_a_placeholder(adapter, slack, core):
    status, _, _ = await post(adapter.url, event_request(dm("U0ADA", "What is phishing?")))
    assert status == 200

    placeholder = (await slack.wait_for("chat.postMessage"))[0]
    assert placeholder.params["channel"] == "D0LEARNER"
    assert placeholder.params["text"] == LOOKING_IT_UP
    assert placeholder.token == BOT_TOKEN
    update = (await slack.wait_for("chat.update"))[0]
    posted_ts = slack.calls_to("chat.postMessage")[0]
    assert update.params["channel"] == "D0LEARNER" and update.params["ts"]

    [message] = core.received
    assert (message.platform, message.user_id, message.chat_id, message.thread_id) == (
        "slack",
        "U0ADA",
        "D0LEARNER",
        "",
    )
    assert message.text == "What is phishing?" and message.delivery_id.startswith("Ev")
    assert message.display_name == "Learner-U0Ada" and message.locale == "en-US"
    [reply] = core.replies[0]
    assert reply.grounded and reply.citations
    blocks = update.params["blocks"]
    assert texts(blocks, "section") == [to_mrkdwn(reply.text)]
    first = reply.citations[0]
    assert escape(f"[1] {location(first.lesson_title, first.heading)}") in texts(blocks, "context")[0]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["value"] for b in buttons] == [
        f"feedback:{reply.question_id}:up",
        f"feedback:{reply.question_id}:down",
    ]
    assert "Sources:" in update.params["text"]  # the plain-text fallback
    assert posted_ts.params["text"] == LOOKING_IT_UP


async def test_mention_is_answered_in_its_thread_and_follow_ups_keep_context(adapter, slack, core, testbot):
    generator: FakeGenerator = testbot.app.generator
    first = mention("U0BOB", "What should I do with a suspicious phishing email?")
    await post(adapter.url, event_request(first))
    await slack.wait_for("chat.update")
    assert slack.calls_to("chat.postMessage")[0].params["thread_ts"] == first["ts"]
    assert core.received[0].text == "What should I do with a suspicious phishing email?"
    assert core.received[0].thread_id == first["ts"]

    follow_up = mention("U0BOB", "and why?", thread_ts=first["ts"])
    await post(adapter.url, event_request(follow_up))
    await slack.wait_for("chat.update", count=2)
    assert slack.calls_to("chat.postMessage")[1].params["thread_ts"] == first["ts"]
    assert core.received[1].thread_id == first["ts"]
    question, _, history, _ = generator.calls[-1]
    assert question == "and why?"
    assert history and "phishing" in history[-1].question

    elsewhere = mention("U0BOB", "and why?")  # a new thread has no memory to borrow
    await post(adapter.url, event_request(elsewhere))
    await slack.wait_for("chat.update", count=3)
    assert core.received[2].thread_id == elsewhere["ts"]
    assert core.replies[2][0].grounded is False


async def test_learn_help_and_ask_are_acknowledged_and_answered(adapter, slack, core):
    status, body, _ = await post(adapter.url, command_request("help", "U0CAT"))
    assert status == 200 and body == ""
    update = (await slack.wait_for("chat.update"))[0]
    assert "I answer questions" in texts(update.params["blocks"], "section")[0]
    assert core.received[0].text == "/help"

    status, _, _ = await post(adapter.url, command_request("ask How long should a passphrase be?", "U0CAT"))
    assert status == 200
    update = (await slack.wait_for("chat.update", count=2))[1]
    assert core.received[1].text in (
        "/ask How long should a passphrase be?",
        "How long should a passphrase be?",
    )
    assert core.received[1].delivery_id.startswith("command:")
    assert "Sources:" in texts(update.params["blocks"], "context")[0]


async def test_learn_in_a_channel_answers_privately_by_dm(adapter, slack, core):
    status, body, _ = await post(adapter.url, command_request("courses", "U0DAN", channel="C0GENERAL"))
    assert status == 200 and "direct message" in body
    placeholder = (await slack.wait_for("chat.postMessage"))[0]
    assert placeholder.params["channel"] == "U0DAN"
    update = (await slack.wait_for("chat.update"))[0]
    assert update.params["channel"] == "D0DAN"
    assert "Security basics" in update.params["text"] or "security-basics" in update.params["text"]


async def test_feedback_button_is_acknowledged_and_reaches_the_core(adapter, slack, core, testbot):
    await post(adapter.url, event_request(dm("U0EVE", "How long should a passphrase be?")))
    update = (await slack.wait_for("chat.update"))[0]
    [helpful, _] = [e for b in update.params["blocks"] if b["type"] == "actions" for e in b["elements"]]

    payload = action_payload(
        "U0EVE", helpful["action_id"], helpful["value"], "D0LEARNER", update.params["ts"]
    )
    status, body, _ = await post(adapter.url, action_request(payload))
    assert status == 200 and body == ""
    thanks = (await slack.wait_for("chat.postMessage", count=2))[1]
    assert thanks.params["text"] == "Thanks for the feedback!"
    message = core.received[1]
    assert message.callback_data == helpful["value"]
    assert (message.user_id, message.chat_id, message.message_id) == (
        "U0EVE",
        "D0LEARNER",
        update.params["ts"],
    )
    question_id = core.replies[0][0].question_id
    assert [q["feedback"] for q in testbot.app.store.questions() if q["id"] == question_id] == ["up"]


async def test_button_in_a_channel_thread_answers_the_presser_only(adapter, slack, core):
    payload = action_payload(
        "U0KIM", "learnbot_0_0", "feedback:0:up", "C0GENERAL", "1700000000.000200", "1700000000.000100"
    )
    await post(adapter.url, action_request(payload))
    [reply] = await slack.wait_for("chat.postEphemeral")
    assert (reply.params["channel"], reply.params["user"]) == ("C0GENERAL", "U0KIM")
    assert reply.params["thread_ts"] == "1700000000.000100" == core.received[0].thread_id
    assert slack.calls_to("chat.postMessage") == []


async def test_learn_in_a_dm_the_bot_cannot_post_to_falls_back_to_the_bot_dm(adapter, slack, core):
    slack.fail("chat.postMessage", "channel_not_found")  # e.g. typed in a DM between two people
    await post(adapter.url, command_request("help", "U0LEO", channel="D0OTHER"))
    update = (await slack.wait_for("chat.update"))[0]
    assert [c.params["channel"] for c in slack.calls_to("chat.postMessage")] == ["D0OTHER", "U0LEO"]
    assert update.params["channel"] == "D0LEO"


async def test_request_url_verification_is_answered(adapter):
    body = json.dumps(
        {
            "token": "unused",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    status, text, _ = await post(adapter.url, signed(body, "application/json"))
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


async def test_bad_signature_gets_401_and_no_api_call(adapter, slack, core):
    status, _, _ = await post(adapter.url, event_request(dm("U0MAL", "hi"), secret="not-the-secret"))
    assert status == 401
    forged = command_request("help", "U0MAL")
    forged.headers["X-Slack-Signature"] = "v0=" + "0" * 64
    status, _, _ = await post(adapter.url, forged)
    assert status == 401
    assert slack.calls == [] and core.received == []


async def test_replay_older_than_five_minutes_is_refused(adapter, slack, core):
    stale = event_request(dm("U0MAL", "hi"), timestamp=int(time.time()) - 6 * 60)
    status, _, _ = await post(adapter.url, stale)
    assert status == 401
    assert slack.calls == [] and core.received == []


async def test_retry_of_a_handled_event_is_acknowledged_not_answered_again(adapter, slack, core):
    event = dm("U0FAY", "What is phishing?")
    await post(adapter.url, event_request(event, event_id="Ev0RETRY"))
    await slack.wait_for("chat.update")
    status, _, headers = await post(adapter.url, event_request(event, event_id="Ev0RETRY", retry_num=1))
    assert status == 200 and headers.get("x-slack-no-retry") == "1"

    await post(adapter.url, event_request(dm("U0FAY", "What is MFA?")))  # a fresh event as a barrier
    await slack.wait_for("chat.update", count=2)
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert [m.text for m in core.received] == ["What is phishing?", "What is MFA?"]


async def test_duplicate_event_ids_are_handled_once(adapter, slack, core):
    request = event_request(dm("U0GUS", "What is phishing?"), event_id="Ev0TWICE")
    results = await asyncio.gather(post(adapter.url, request), post(adapter.url, request))
    assert [status for status, _, _ in results] == [200, 200]
    await post(adapter.url, event_request(dm("U0GUS", "What is MFA?")))
    await slack.wait_for("chat.update", count=2)
    assert [m.delivery_id for m in core.received].count("Ev0TWICE") == 1
    assert len(core.received) == 2


async def test_admin_upload_is_downloaded_once_with_the_bot_token_and_ingested(tmp_path, slack):
    testbot = TestBot.build(tmp_path, admins="slack:U0ADMIN")
    core = RecordingBot(testbot.app.bot)
    async with slack_stack(core, slack) as adapter:
        content = (
            b"# Password managers\n\nA password manager remembers a long unique password for every site.\n"
        )
        info = slack.add_file("password-managers.md", content, user="U0ADMIN")
        # one upload to the bot's DM arrives twice: file_shared and a file_share message
        await post(adapter.url, event_request(file_shared("U0ADMIN", info)))
        await post(adapter.url, event_request(dm("U0ADMIN", "", subtype="file_share", files=[info])))
        placeholder = (await slack.wait_for("chat.postMessage"))[0]
        assert placeholder.params["text"] == READING_FILE
        update = (await slack.wait_for("chat.update"))[0]
        assert update.params["text"].startswith("Loaded course")

        [upload] = core.received
        assert (upload.file.name, upload.file.size) == ("password-managers.md", len(content))
        assert upload.delivery_id == f"file:{info['id']}"
        assert slack.downloads == [f"Bearer {BOT_TOKEN}"]  # the core fetched it, once
        assert testbot.app.store.courses()


async def test_upload_from_a_non_admin_is_refused_without_download(adapter, slack, core):
    info = slack.add_file("course.zip", b"PK\x03\x04zip", user="U0PAT")
    await post(adapter.url, event_request(file_shared("U0PAT", info)))
    update = (await slack.wait_for("chat.update"))[0]
    assert "Only admins" in update.params["text"]
    assert slack.calls_to("files.info")[0].params["file"] == info["id"]
    assert slack.downloads == []

    # the FileRef downloads with the bot token when asked, and spots Slack's sign-in page
    assert await core.received[0].file.fetch() == b"PK\x03\x04zip"
    slack.bot_token = "xoxb-rotated"
    with pytest.raises(OSError, match="web page"):
        await core.received[0].file.fetch()


async def test_reply_with_an_image_is_uploaded_with_files_upload_v2(adapter, slack):
    await adapter.send("D0MGR", Reply("Your team this week", image=PNG))
    [message] = slack.calls_to("chat.postMessage")
    assert message.params["channel"] == "D0MGR"
    [get_url] = slack.calls_to("files.getUploadURLExternal")
    assert get_url.params["filename"] == "chart.png" and int(get_url.params["length"]) == len(PNG)
    assert list(slack.uploads.values()) == [PNG]
    [complete] = slack.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "D0MGR"


async def test_a_send_to_a_user_id_opens_their_dm_once_and_uploads_there(adapter, slack):
    await adapter.send("U0NEWBIE", Reply("Your team this week", image=PNG))
    await adapter.send("U0NEWBIE", Reply("And again", image=PNG))
    assert slack.opened == ["U0NEWBIE"], "conversations.open once; the DM id is remembered"
    assert [c.params["channel"] for c in slack.calls_to("chat.postMessage")] == ["D0NEWBIE"] * 2
    uploads = slack.calls_to("files.completeUploadExternal")
    assert [c.params["channel_id"] for c in uploads] == ["D0NEWBIE"] * 2


async def test_without_im_write_a_push_still_reaches_the_user_through_their_user_id(adapter, slack, caplog):
    slack.fail("conversations.open", "missing_scope")
    await adapter.send("U0OLDAPP", Reply("Your team this week", image=PNG))
    assert [c.params["channel"] for c in slack.calls_to("chat.postMessage")] == ["U0OLDAPP"]
    [upload] = slack.calls_to("files.completeUploadExternal")
    assert upload.params["channel_id"] == "D0OLDAPP", "the chart goes to the DM Slack answered with"
    assert "im:write" in caplog.text


async def test_a_failing_slack_call_becomes_an_apology(adapter, slack, core):
    slack.fail("chat.update", "msg_too_long")
    await post(adapter.url, event_request(dm("U0HAL", "What is phishing?")))
    updates = await slack.wait_for("chat.update", count=2)
    assert updates[1].params["text"] == SORRY


async def test_socket_mode_receives_envelopes_and_acknowledges_them(core, slack):
    async with slack_stack(core, slack, signing_secret="", app_token=APP_TOKEN):
        assert slack.calls_to("apps.connections.open")[0].token == APP_TOKEN
        body = envelope(dm("U0IVY", "What is phishing?"))
        await slack.push_envelope(
            {
                "envelope_id": "env-1",
                "type": "events_api",
                "payload": body,
                "accepts_response_payload": False,
                "retry_attempt": 0,
            }
        )
        await slack.wait_for("chat.update")
        await until(lambda: any(a.get("envelope_id") == "env-1" for a in slack.socket_acks))
        assert core.received[0].text == "What is phishing?"


async def test_tokens_and_secret_never_reach_the_logs(adapter, slack, caplog):
    caplog.set_level(logging.DEBUG)
    await post(adapter.url, event_request(dm("U0JOE", "What is phishing?")))
    await post(adapter.url, event_request(dm("U0JOE", "hi"), secret="not-the-secret"))
    await slack.wait_for("chat.update")
    logged = caplog.text + repr(adapter)
    assert BOT_TOKEN not in logged and SIGNING_SECRET not in logged


# -- translation helpers ----------------------------------------------------------------------


def test_the_fake_signs_like_slack_sdk():
    ts = str(int(time.time()))
    assert SignatureVerifier(SIGNING_SECRET).is_valid("a=1&b=2", ts, signature("a=1&b=2", ts))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "/help"),
        ("help", "/help"),
        ("courses", "/courses"),
        ("link", "/link"),
        ("ask What is MFA?", "What is MFA?"),
        ("What is MFA?", "What is MFA?"),
        ("next", "/next"),
        ("Quiz  me", "/quiz me"),
    ],
)
def test_learn_subcommands_map_to_core_commands(text, expected):
    assert command_text(text, {"help": None, "courses": None, "start": None}) == expected


def test_learn_ask_goes_to_the_core_ask_command_when_there_is_one():
    assert command_text("ask What is MFA?", {"ask": None}) == "/ask What is MFA?"


def test_slack_text_is_decoded_to_what_the_person_typed():
    raw = "<@U0LEARNBOT> is <https://example.com|this> safe &amp; is 2 &lt; 3? ask <@U0BOB> in <#C1|general>"
    assert plain_text(raw) == "is this safe & is 2 < 3? ask @U0BOB in #general"


def test_the_events_api_needs_a_signing_secret(core):
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(core, bot_token=BOT_TOKEN, signing_secret="")


def test_serve_builds_the_adapter_from_slacks_names_and_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    app = TestBot.build(tmp_path / "data", slack_api_url="http://127.0.0.1:8082/api/", slack_port=3100).app
    [adapter] = app.chat_adapters("slack")
    assert adapter.port == 3100 and adapter.client.base_url == "http://127.0.0.1:8082/api/"
    assert app.bot.capable(LearnerCache) is adapter, "attached: an erase clears its name and DM cache"
    assert app.bot.capable(StarRefunds) is None


# -- Block Kit rendering ----------------------------------------------------------------------


def test_answer_text_is_mrkdwn_escaped():
    message = render(Reply("Is 2 < 3 & 4 > 1? **Yes**. [1]"))
    assert texts(message["blocks"], "section") == ["Is 2 &lt; 3 &amp; 4 &gt; 1? *Yes*. [1]"]


def test_a_long_answer_respects_block_kit_limits():
    citation = Citation(1, "c", "l", "Passwords", "Passwords > Passphrases", "02.md", 0.9)
    rows = [[Button("Helpful", "feedback:1:up"), Button("Open the lesson", url="https://example.com/l")]]
    message = render(Reply("A sentence about passphrases. " * 8000, [citation], rows))
    blocks = message["blocks"]
    assert len(blocks) <= 50 and len(message["text"]) <= 4000
    assert all(len(t) <= 3000 for t in texts(blocks, "section"))
    assert blocks[-2]["type"] == "context" and "[1] Passwords &gt; Passphrases" in texts(blocks, "context")[0]
    [helpful, link] = blocks[-1]["elements"]
    assert (
        helpful["value"] == "feedback:1:up" and link["url"] == "https://example.com/l" and "value" not in link
    )


def test_splitting_never_breaks_an_escape():
    pieces = split_text(escape("&" * 2000), limit=3000)
    assert all(re.fullmatch(r"(&amp;)+", p) for p in pieces) and "".join(pieces) == "&amp;" * 2000


def test_a_correct_configuration_starts_without_warnings(core, monkeypatch, caplog):
    """Issue 14 row 19: bolt reads SLACK_BOT_TOKEN itself and warned "token will be unused" on every start."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    with caplog.at_level(logging.WARNING):
        adapter = SlackAdapter(core, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    assert adapter.app is not None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    with caplog.at_level(logging.WARNING):
        bolt_log.warning("As you gave client as well, token will be unused")  # silenced only while building
    assert len(caplog.records) == 1


async def test_socket_mode_start_up_names_a_refused_token_or_an_unreachable_api(core, slack):
    """Found re-probing issue 14 row 8 on Slack: slack_sdk retried forever, a traceback every 10 s."""
    from adapters.slack_socket import SlackUnreachable

    refused = SlackAdapter(
        core, bot_token=BOT_TOKEN, signing_secret="", app_token="xapp-1-wrong", api_url=slack.api_url
    )
    with pytest.raises(SlackUnreachable, match="refused.*SLACK_APP_TOKEN"):
        await asyncio.wait_for(refused.start(), 60)  # the old code never returned
    await refused.stop()
    assert len(slack.calls_to("apps.connections.open")) == 1, "a refused token is not tried again"
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    unreachable = SlackAdapter(
        core, bot_token=BOT_TOKEN, signing_secret="", app_token=APP_TOKEN, api_url=closed,
        start_tries=2, retry_delay=0.01,
    )  # fmt: skip
    with pytest.raises(SlackUnreachable, match=f"could not reach the Slack API at {closed} after 2 tries"):
        await asyncio.wait_for(unreachable.start(), 60)
    await unreachable.stop()
