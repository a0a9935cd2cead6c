"""Telegram Stars purchases end to end: the real python-telegram-bot stack against the local fake Bot API.

invoice -> pre-checkout -> successful payment -> access; a repeated successful_payment writes one
ledger row; a stale price is refused at pre-checkout; a refund (admin command, or Telegram's own
refunded_payment) ends access; subscriptions extend on renewal. Slack: /premium says where to buy,
and an organisation grant applies through the workspace id the adapter captures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.fakes.slack import (
    TEAM,
    command_request,
    dm,
    event_request,
    post,
)
from adapters.fakes.telegram import (
    FakeTelegram,
    callback_update,
    pre_checkout_update,
    refunded_payment_update,
    successful_payment_update,
    text_update,
    user,
)
from adapters.telegram import TelegramAdapter
from bot.metrics import PAYMENT_EVENTS
from bot.premium import Premium, encode_payload
from bot.testing import TestBot
from tests.adapters.stacks import chat_testbot, slack_stack, telegram_stack, until
from tests.premium_course import TRACK, leaks, write_courses

pytestmark = pytest.mark.integration
ADMIN = user(7, "Grace")
QUESTION = "What torque does the hinge calibration use?"


@pytest.fixture(scope="module")
def testbot(tmp_path_factory) -> TestBot:
    bot = chat_testbot(tmp_path_factory.mktemp("data"), write_courses(tmp_path_factory.mktemp("courses")))
    Premium(bot.app.store).set_price(TRACK, 100, 30, False, datetime.now(UTC))
    return bot


@pytest.fixture
async def telegram(server, testbot) -> AsyncIterator[TelegramAdapter]:
    async with telegram_stack(testbot.app.bot, server, rate_limit=False) as adapter:
        yield adapter


def texts_to(server: FakeTelegram, chat: int) -> list[str]:
    return [c.params["text"] for c in server.calls_to("sendMessage") if c.params["chat_id"] == str(chat)]


def learner(testbot: TestBot, telegram_user: dict) -> int:
    return testbot.app.store.learner_for("telegram", str(telegram_user["id"]))


def events(name: str) -> float:
    return PAYMENT_EVENTS.labels(name)._value.get()


async def buy_invoice(server: FakeTelegram, buyer: dict) -> dict:
    """/premium, tap the track: the invoice the bot sends."""
    before = len(texts_to(server, buyer["id"]))
    server.push(text_update(buyer, "/premium"))
    await until(lambda: len(texts_to(server, buyer["id"])) > before)
    offer = server.calls_to("sendMessage")[-1]
    [[button]] = offer.params["reply_markup"]["inline_keyboard"]
    assert button["callback_data"] == f"premium:{TRACK}" and "100 Stars" in button["text"]
    count = len(server.calls_to("sendInvoice"))
    server.push(callback_update(buyer, button["callback_data"]))
    invoices = await server.wait_for("sendInvoice", count + 1)
    return invoices[-1].params


async def test_invoice_pre_checkout_payment_then_access_and_a_repeat_writes_one_row(
    server, telegram, testbot
):
    buyer = user(301, "Ada")
    server.push(text_update(buyer, QUESTION))
    await until(lambda: texts_to(server, 301))
    assert not leaks(texts_to(server, 301)[-1]), "no access before paying"

    invoice = await buy_invoice(server, buyer)
    assert invoice["currency"] == "XTR" and invoice["prices"] == [
        {"label": f"{TRACK} (30 days)", "amount": 100}
    ]
    assert invoice["payload"] == encode_payload(learner(testbot, buyer), TRACK, 1)
    assert not invoice.get("provider_token"), "Stars need no provider token"

    server.push(pre_checkout_update(buyer, invoice["payload"], 100))
    [answer] = await server.wait_for("answerPreCheckoutQuery")
    assert answer.params["ok"] in (True, "true", "True")

    paid_before = events("paid")
    server.push(successful_payment_update(buyer, invoice["payload"], 100, "charge-301"))
    await until(lambda: any("unlocked until" in t for t in texts_to(server, 301)))
    assert events("paid") == paid_before + 1
    assert testbot.app.store.entitled_tracks(learner(testbot, buyer), datetime.now(UTC)) == {TRACK}

    duplicates = events("duplicate")
    server.push(successful_payment_update(buyer, invoice["payload"], 100, "charge-301"))  # redelivered
    await until(lambda: events("duplicate") == duplicates + 1)
    await asyncio.sleep(0.2)
    rows = [r for r in testbot.app.store.payments() if r["telegram_payment_charge_id"] == "charge-301"]
    assert len(rows) == 1 and rows[0]["amount"] == 100 and rows[0]["status"] == "paid"
    assert sum("unlocked until" in t for t in texts_to(server, 301)) == 1, "confirmed once"
    entitlements = list(testbot.app.store.db["entitlements"].rows_where("charge_id = ?", ["charge-301"]))
    assert len(entitlements) == 1

    sent = len(texts_to(server, 301))
    server.push(text_update(buyer, QUESTION))
    await until(lambda: len(texts_to(server, 301)) > sent)
    assert leaks(texts_to(server, 301)[-1]), "paid access answers from the premium lessons"


async def test_a_stale_price_is_refused_at_pre_checkout(server, telegram, testbot):
    buyer = user(302, "Bo")
    invoice = await buy_invoice(server, buyer)
    old = testbot.app.store.price(TRACK)
    Premium(testbot.app.store).set_price(TRACK, old.stars + 20, 30, False, datetime.now(UTC))
    try:
        refused = events("pre_checkout_refused")
        server.push(pre_checkout_update(buyer, invoice["payload"], old.stars))
        answer = (await server.wait_for("answerPreCheckoutQuery"))[-1]
        assert answer.params["ok"] in (False, "false", "False")
        assert events("pre_checkout_refused") == refused + 1
        assert "price has changed" in answer.params["error_message"]
        assert not testbot.app.store.payments(learner(testbot, buyer))
    finally:  # later tests buy at the first price again
        Premium(testbot.app.store).set_price(TRACK, old.stars, 30, False, datetime.now(UTC))


async def test_admin_refund_ends_access_and_errors_are_clear(server, telegram, testbot):
    buyer = user(303, "Cy")
    version = testbot.app.store.price(TRACK).version
    payload = encode_payload(learner(testbot, buyer), TRACK, version)
    server.push(successful_payment_update(buyer, payload, 100, "charge-303"))
    await until(lambda: any("unlocked" in t for t in texts_to(server, 303)))
    assert testbot.app.store.entitled_tracks(learner(testbot, buyer), datetime.now(UTC)) == {TRACK}

    server.push(text_update(buyer, "/refund charge-303"))
    await until(lambda: any("Only admins" in t for t in texts_to(server, 303)))

    server.push(text_update(ADMIN, "/refund charge-303"))
    [refund] = await server.wait_for("refundStarPayment")
    assert refund.params == {"user_id": "303", "telegram_payment_charge_id": "charge-303"}
    await until(lambda: any("Refunded 100 Stars" in t for t in texts_to(server, 7)))
    await until(lambda: any("was refunded" in t for t in texts_to(server, 303)))  # the buyer is told
    assert testbot.app.store.entitled_tracks(learner(testbot, buyer), datetime.now(UTC)) == frozenset()
    row = testbot.app.store.payment("charge-303")
    assert row["status"] == "refunded" and row["refunded_at"]

    server.push(text_update(ADMIN, "/refund charge-303"))
    await until(lambda: any("refunded already" in t for t in texts_to(server, 7)))
    server.push(text_update(ADMIN, "/refund no-such-charge"))
    await until(lambda: any("no payment with charge id" in t for t in texts_to(server, 7)))
    assert len(server.calls_to("refundStarPayment")) == 1, "only the one real refund reached Telegram"


async def test_telegrams_own_refund_ends_access(server, telegram, testbot):
    buyer = user(304, "Di")
    payload = encode_payload(learner(testbot, buyer), TRACK, testbot.app.store.price(TRACK).version)
    server.push(successful_payment_update(buyer, payload, 100, "charge-304"))
    await until(lambda: any("unlocked" in t for t in texts_to(server, 304)))
    server.push(refunded_payment_update(buyer, payload, 100, "charge-304"))
    await until(lambda: any("was refunded" in t for t in texts_to(server, 304)))
    assert testbot.app.store.payment("charge-304")["status"] == "refunded"
    assert testbot.app.store.entitled_tracks(learner(testbot, buyer), datetime.now(UTC)) == frozenset()


async def test_subscription_invoice_link_and_renewal(server, telegram, testbot):
    store, now = testbot.app.store, datetime.now(UTC)
    old = store.price(TRACK)
    Premium(store).set_price(TRACK, 90, 30, True, now)
    try:
        buyer = user(305, "Ed")
        server.push(callback_update(buyer, f"premium:{TRACK}"))
        [link] = await server.wait_for("createInvoiceLink")
        assert link.params["subscription_period"] == "2592000" and link.params["currency"] == "XTR"

        def offers() -> list:
            return [
                c
                for c in server.calls_to("sendMessage")
                if c.params["chat_id"] == "305" and "reply_markup" in c.params
            ]

        await until(offers)  # the reply may come in more than one message
        offer = offers()[-1]
        assert offer.params["reply_markup"]["inline_keyboard"][0][0]["url"].startswith("https://t.me/")

        first = int((now + timedelta(days=30)).timestamp())
        server.push(
            successful_payment_update(
                buyer,
                link.params["payload"],
                90,
                "sub-305-1",
                subscription_expiration_date=first,
                is_recurring=True,
                is_first_recurring=True,
            )
        )
        await until(lambda: any("unlocked" in t for t in texts_to(server, 305)))
        server.push(
            successful_payment_update(
                buyer,
                link.params["payload"],
                90,
                "sub-305-2",
                subscription_expiration_date=first + 30 * 86400,
                is_recurring=True,
            )
        )
        await until(lambda: any("renewed" in t for t in texts_to(server, 305)))
        # the handler stamps the grant with its own clock, later than ``now``: ask at the present
        access = store.access(learner(testbot, buyer), TRACK, datetime.now(UTC))
        assert access.until == datetime.fromtimestamp(first + 30 * 86400, UTC).isoformat()

        server.push(text_update(ADMIN, "/refund sub-305-2"))  # refunding a renewal ends the subscription
        [cancel] = await server.wait_for("editUserStarSubscription")
        assert cancel.params["telegram_payment_charge_id"] == "sub-305-1"
        assert cancel.params["is_canceled"] in (True, "true", "True")
        refund = (await server.wait_for("refundStarPayment"))[-1]
        assert refund.params["telegram_payment_charge_id"] == "sub-305-2"
        await until(lambda: any("Refunded 90 Stars" in t for t in texts_to(server, 7)))
        assert (
            store.access(learner(testbot, buyer), TRACK, datetime.now(UTC)).until
            == datetime.fromtimestamp(first, UTC).isoformat()
        )
    finally:
        Premium(store).set_price(TRACK, old.stars, 30, False, now)


# -- Slack -----------------------------------------------------------------------------------------


async def test_slack_premium_points_to_telegram_and_an_org_grant_applies(testbot, slack):
    async with slack_stack(testbot.app.bot, slack) as adapter:
        await post(adapter.url, command_request("premium", "U0ORG"))
        [update] = await slack.wait_for("chat.update")
        assert "Telegram" in update.params["text"] and "100 Stars" in update.params["text"]

        await post(adapter.url, event_request(dm("U0ORG", QUESTION)))
        answer = (await slack.wait_for("chat.update", 2))[1]
        assert not leaks(json.dumps(answer.params))
        store = testbot.app.store
        store.grant_org("slack", TEAM, TRACK, None, datetime.now(UTC))
        await post(adapter.url, event_request(dm("U0ORG", QUESTION)))
        answer = (await slack.wait_for("chat.update", 3))[2]
        assert leaks(answer.params["text"]), "the workspace grant unlocks the premium lessons"
        store.revoke_org("slack", TEAM, TRACK, datetime.now(UTC))


async def test_a_slow_check_is_refused_in_time_not_left_hanging(server, testbot, monkeypatch):
    import adapters.telegram_payments as payments

    class Slow:
        """A core that takes longer than Telegram waits."""

        premium = None
        finished = False

        async def handle(self, message, notify=None):
            await asyncio.sleep(30)  # far beyond the 0.3 s allowed, even on a loaded machine
            Slow.finished = True
            return []

    monkeypatch.setattr(payments, "ANSWER_WITHIN_S", 0.3)
    async with telegram_stack(Slow(), server, rate_limit=False):
        server.push(pre_checkout_update(user(306, "Fa"), "lb1:1:1:x", 100))
        [answer] = await server.wait_for("answerPreCheckoutQuery")
        assert (
            answer.params["ok"] in (False, "false", "False")
            and "Nothing was charged" in answer.params["error_message"]
        )
        assert not Slow.finished, "answered without waiting for the core"
