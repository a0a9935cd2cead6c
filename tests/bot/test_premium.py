"""Premium rules over a real store and core with a fixed clock: prices, payloads, pre-checkout checks,
payments, refunds, grants, expiry, and enforcement on every path (courses, enroll, lesson, quiz, memory)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.jobs.premium import ENDED, REMINDER, premium_expiry
from bot.messages import IncomingMessage, Payment
from bot.premium import PAYLOAD_LIMIT, Premium, PremiumError, decode_payload, encode_payload
from bot.testing import FakeAdapter, TestBot
from tests.premium_course import FREE_ID, PREMIUM_ID, TRACK, leaks, write_courses

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, inside the default active hours
DAY = timedelta(days=1)


@pytest.fixture
def testbot(tmp_path) -> TestBot:
    bot = TestBot.build(tmp_path / "data", grounding_threshold=0.3, questions_per_minute=1000)
    for folder in write_courses(tmp_path / "courses"):
        bot.ingest(folder)
    bot.user = "4242"  # a Telegram user id is a number (refunds need it)
    return bot.at(NOW)


def learner(testbot: TestBot, platform: str = "test") -> int:
    return testbot.app.store.learner_for(platform, testbot.user)


def pay(testbot: TestBot, charge: str, at: datetime, *, version: int = 1, stars: int = 100, **extra) -> list:
    payload = encode_payload(learner(testbot, "telegram"), TRACK, version)
    message = IncomingMessage(
        "telegram",
        testbot.user,
        testbot.user,
        payment=Payment("paid", payload, "XTR", stars, charge, **extra),
    )
    testbot.at(at)
    return asyncio.run(testbot.app.bot.handle(message))


def pre_checkout(testbot: TestBot, payload: str, stars: int = 100, currency: str = "XTR"):
    message = IncomingMessage(
        "telegram", testbot.user, testbot.user, payment=Payment("pre_checkout", payload, currency, stars)
    )
    [reply] = asyncio.run(testbot.app.bot.handle(message))
    return reply


# -- payloads and prices ---------------------------------------------------------------------------


def test_payload_round_trips_and_stays_within_telegrams_limit():
    payload = encode_payload(123456789012, "a" * 48, 999999999)
    assert len(payload.encode()) <= PAYLOAD_LIMIT
    decoded = decode_payload(payload)
    assert (decoded.learner_id, decoded.track, decoded.version) == (123456789012, "a" * 48, 999999999)
    assert decode_payload("something else") is None and decode_payload("lb1:x:1:t") is None
    with pytest.raises(ValueError):
        encode_payload(1, "t" * 130, 1)


def test_set_price_checks_the_track_and_versions_each_change(testbot):
    premium = Premium(testbot.app.store)
    with pytest.raises(PremiumError, match="no premium course"):
        premium.set_price("nothing-here", 100, 30, False, NOW)
    with pytest.raises(PremiumError, match="track names"):
        premium.set_price("bad name!", 100, 30, False, NOW)
    with pytest.raises(PremiumError, match="1 to"):
        premium.set_price(TRACK, 0, 30, False, NOW)
    with pytest.raises(PremiumError, match="every 30 days"):
        premium.set_price(TRACK, 100, 7, True, NOW)
    assert premium.set_price(TRACK, 100, 30, False, NOW).version == 1
    assert premium.set_price(TRACK, 150, 30, False, NOW).version == 2
    assert testbot.app.store.price(TRACK).stars == 150 and testbot.app.store.price(TRACK, 1).stars == 100


# -- pre-checkout ----------------------------------------------------------------------------------


def test_pre_checkout_accepts_a_current_invoice_and_refuses_bad_ones(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, False, NOW)
    me = learner(testbot, "telegram")
    good = encode_payload(me, TRACK, 1)
    assert pre_checkout(testbot, good).payment_ok is True

    assert "another account" in pre_checkout(testbot, encode_payload(me + 99, TRACK, 1)).text
    assert "not one of mine" in pre_checkout(testbot, "junk").text
    assert "does not match" in pre_checkout(testbot, good, stars=1).text
    assert "does not match" in pre_checkout(testbot, good, currency="USD").text

    Premium(store).set_price(TRACK, 120, 30, False, NOW)  # the invoice above is stale now
    stale = pre_checkout(testbot, good, stars=100)
    assert stale.payment_ok is False and "price has changed" in stale.text

    store.block_buyer(me, "refund abuse", NOW)
    assert "on hold" in pre_checkout(testbot, encode_payload(me, TRACK, 2), stars=120).text
    store.unblock_buyer(me)
    assert pre_checkout(testbot, encode_payload(me, TRACK, 2), stars=120).payment_ok is True


def test_already_entitled_learners_may_renew_only_near_the_end(testbot):
    Premium(testbot.app.store).set_price(TRACK, 100, 30, False, NOW)
    pay(testbot, "ch-1", NOW)
    payload = encode_payload(learner(testbot, "telegram"), TRACK, 1)
    testbot.at(NOW + DAY)
    assert "already have" in pre_checkout(testbot, payload).text
    testbot.at(NOW + 28 * DAY)
    assert pre_checkout(testbot, payload).payment_ok is True


# -- payments, refunds, grants ---------------------------------------------------------------------


def test_payment_grants_once_and_periods_chain(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, False, NOW)
    me = learner(testbot, "telegram")
    [reply] = pay(testbot, "ch-1", NOW)
    assert "unlocked until" in reply.text and f"/enroll {PREMIUM_ID}" in reply.text
    assert store.entitled_tracks(me, NOW) == {TRACK}
    assert pay(testbot, "ch-1", NOW) == [], "a repeated delivery confirms nothing twice"
    assert len(store.payments()) == 1
    pay(testbot, "ch-2", NOW + 28 * DAY)  # renewed early: the new period starts at the old end
    assert store.access(me, TRACK, NOW).until == (NOW + 60 * DAY).isoformat()
    assert TRACK in store.entitled_tracks(me, NOW + 59 * DAY)
    assert store.entitled_tracks(me, NOW + 60 * DAY) == frozenset(), "expiry is by time, no job needed"

    assert Premium(store).record_refund("ch-1", NOW + 29 * DAY)  # one day of the first period left
    assert store.access(me, TRACK, NOW + 29 * DAY).until == (NOW + 59 * DAY).isoformat()
    assert not Premium(store).record_refund("ch-1", NOW + 29 * DAY), "refunded once only"
    rows = {r["telegram_payment_charge_id"]: r for r in store.payments()}
    assert rows["ch-1"]["status"] == "refunded" and rows["ch-2"]["status"] == "paid"


def test_refund_through_a_refunder_and_its_clear_errors(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, False, NOW)
    pay(testbot, "ch-9", NOW)
    refunded: list[tuple[int, str]] = []

    async def refunder(user_id: int, charge_id: str, subscription: str) -> None:
        assert subscription == "", "a one-off purchase has no subscription to cancel"
        refunded.append((user_id, charge_id))

    async def failing(user_id: int, charge_id: str, subscription: str) -> None:
        raise RuntimeError("CHARGE_NOT_FOUND")

    premium = Premium(store)
    with pytest.raises(PremiumError, match="no payment"):
        asyncio.run(premium.refund("nope", refunder, NOW))
    with pytest.raises(PremiumError, match="Telegram refused"):
        asyncio.run(premium.refund("ch-9", failing, NOW))
    assert store.payment("ch-9")["status"] == "paid", "nothing recorded when Telegram refuses"
    asyncio.run(premium.refund("ch-9", refunder, NOW + DAY))
    assert refunded == [(4242, "ch-9")]
    assert store.entitled_tracks(learner(testbot, "telegram"), NOW + DAY) == frozenset()
    with pytest.raises(PremiumError, match="refunded already"):
        asyncio.run(premium.refund("ch-9", refunder, NOW + DAY))


def test_subscription_renewal_extends_to_telegrams_expiration_date(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, True, NOW)
    first = NOW + 30 * DAY
    pay(testbot, "sub-1", NOW, subscription_until=first, recurring=True, first_recurring=True)
    [reply] = pay(testbot, "sub-2", first, subscription_until=first + 30 * DAY, recurring=True)
    assert "renewed" in reply.text
    assert store.access(learner(testbot, "telegram"), TRACK, first).until == (first + 30 * DAY).isoformat()
    assert [r["kind"] for r in store.payments()] == ["subscription", "renewal"]


def test_org_grant_entitles_members_of_the_slack_workspace(testbot):
    store = testbot.app.store
    member = IncomingMessage("slack", "U0MEMBER", "D0MEMBER", "/courses", team_id="T0ACME")
    outsider = IncomingMessage("slack", "U0OTHER", "D0OTHER", "/courses", team_id="T0ELSE")
    for message in (member, outsider):
        asyncio.run(testbot.app.bot.handle(message))
    store.grant_org("slack", "T0ACME", TRACK, None, NOW)
    assert store.entitled_tracks(store.learner_for("slack", "U0MEMBER"), NOW) == {TRACK}
    assert store.entitled_tracks(store.learner_for("slack", "U0OTHER"), NOW) == frozenset()
    [reply] = asyncio.run(testbot.app.bot.handle(member))
    assert "locked" not in reply.text
    store.revoke_org("slack", "T0ACME", TRACK, NOW)
    assert store.entitled_tracks(store.learner_for("slack", "U0MEMBER"), NOW + DAY) == frozenset()


def test_entitlements_follow_a_linked_learner(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, False, NOW)
    pay(testbot, "ch-1", NOW)
    [code_reply] = testbot.say_all("/link", platform="telegram", chat=testbot.user)
    code = code_reply.text.split("code is ")[1].split(".")[0]
    testbot.say(f"/link {code}", platform="slack", chat="D1")
    assert store.entitled_tracks(store.learner_for("slack", testbot.user), NOW) == {TRACK}
    assert len(store.payments()) == 1


# -- enforcement -----------------------------------------------------------------------------------


def test_courses_enroll_lesson_and_quiz_are_locked_without_access(testbot):
    courses = testbot.say("/courses").text
    assert "[premium, locked] Advanced Vault Operations" in courses and not leaks(courses)
    assert "premium track" in testbot.say(f"/enroll {PREMIUM_ID}").text
    testbot.say(f"/enroll {FREE_ID}")
    lesson = testbot.say(f"/lesson {PREMIUM_ID}")
    assert "/premium unlocks" in lesson.text and not leaks(lesson.text)  # issue 14 row 18
    item = testbot.app.store.quiz_items(PREMIUM_ID)[0]
    forged = testbot.press(f"quiz:{item.item_id}:0")
    assert "premium" in forged.text and not leaks(forged.text) and not forged.citations

    testbot.app.store.grant(learner(testbot), TRACK, NOW + 2 * DAY, NOW)
    assert "You are enrolled" in testbot.say(f"/enroll {PREMIUM_ID}").text
    opened = testbot.say(f"/lesson {PREMIUM_ID}")
    assert leaks(opened.text), "the entitled learner sees the premium summary"
    assert leaks(testbot.press(f"quiz:{item.item_id}:0").text)

    testbot.at(NOW + 3 * DAY)  # the grant has run out
    after = testbot.say(f"/lesson {PREMIUM_ID}")
    assert not leaks(after.text) and "locked for you now: /premium unlocks" in after.text
    assert "not enrolled" not in after.text
    progress = testbot.say("/progress").text
    assert "Advanced Vault Operations" not in progress


def test_memory_does_not_carry_premium_answers_past_the_end_of_access(testbot):
    generator = testbot.app.generator
    testbot.app.store.grant(learner(testbot), TRACK, NOW + DAY, NOW)
    first = testbot.say("What torque does the hinge calibration use?")
    assert leaks(first.text)
    testbot.at(NOW + 2 * DAY)
    calls = len(generator.calls)
    follow_up = testbot.say("and the hinge calibration torque, why?")
    assert not leaks(follow_up.text)
    for _, passages, history, _ in generator.calls[calls:]:  # the generator never sees premium text
        assert not any(leaks(turn.answer) for turn in history), "the premium turn is not remembered"
        assert not any(leaks(p.chunk.text) for p in passages)
    testbot.at(NOW)  # while entitled, the same follow-up does see the remembered turn
    testbot.say("and the hinge calibration torque, why?")
    assert any(leaks(turn.answer) for turn in generator.calls[-1][2])


def test_memory_in_a_shared_thread_is_not_shared_with_a_learner_without_access(testbot):
    store = testbot.app.store
    generator = testbot.app.generator
    store.grant(store.learner_for("slack", "U0PAID"), TRACK, None, NOW)
    paid = IncomingMessage(
        "slack", "U0PAID", "C0ROOM", "What torque does the hinge calibration use?", thread_id="1.0"
    )
    other = IncomingMessage(
        "slack", "U0FREE", "C0ROOM", "and how often are vault hinges inspected?", thread_id="1.0"
    )
    assert leaks(asyncio.run(testbot.app.bot.handle(paid))[0].text)
    calls = len(generator.calls)
    [reply] = asyncio.run(testbot.app.bot.handle(other))
    assert len(generator.calls) == calls + 1, "answered from the free course"
    assert not leaks(reply.text) and not any(leaks(t.answer) for t in generator.calls[-1][2])


# -- expiry ----------------------------------------------------------------------------------------


def test_expiry_reminds_once_three_days_before_and_ends_access(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, False, NOW)
    pay(testbot, "ch-1", NOW)
    me = learner(testbot, "telegram")
    adapter = FakeAdapter("telegram")
    deps = testbot.app.job_deps({"telegram": adapter})

    def run(at: datetime) -> int:
        return asyncio.run(premium_expiry(deps, at))

    assert run(NOW + 26 * DAY) == 0, "more than 3 days left: no reminder"
    assert run(NOW + 27 * DAY + timedelta(hours=1)) == 1
    assert "ends on" in adapter.texts()[0] and adapter.sent[0][1].buttons[0][0].data == f"premium:{TRACK}"
    assert run(NOW + 27 * DAY + timedelta(hours=2)) == 0
    assert run(NOW + 28 * DAY) == 0, "reminded once"
    assert TRACK in store.entitled_tracks(me, NOW + 30 * DAY - timedelta(seconds=1))
    assert store.entitled_tracks(me, NOW + 30 * DAY) == frozenset()
    assert run(NOW + 30 * DAY + timedelta(hours=1)) == 1
    assert "has ended" in adapter.texts()[1]
    assert run(NOW + 31 * DAY) == 0
    kinds = [r["kind"] for r in store.db["sent_pushes"].rows]
    assert kinds.count(REMINDER) == 1 and kinds.count(ENDED) == 1


# -- the admin command line ------------------------------------------------------------------------


@pytest.fixture
def fake_telegram_in_thread():
    """The fake Bot API on its own event loop, for the command line's own ``asyncio.run``."""
    import threading

    from adapters.fakes.telegram import FakeTelegram

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeTelegram()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_cli_prices_grants_and_refunds(testbot, fake_telegram_in_thread, monkeypatch):
    from typer.testing import CliRunner

    from adapters.fakes.telegram import TOKEN
    from bot.cli import CliError, cli

    monkeypatch.setenv("LEARNBOT_DATA_DIR", str(testbot.app.settings.data_dir))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("LEARNBOT_TELEGRAM_API_URL", fake_telegram_in_thread.root)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=True)

    result = run("track", "set-price", TRACK, "250", "--period-days", "30")
    assert result.exit_code == 0 and "price version 1" in result.output
    bad = run("track", "set-price", "no-such-track", "10")
    assert isinstance(bad.exception, CliError) and "no premium course" in str(bad.exception)
    listed = run("track", "list")
    assert TRACK in listed.output and "250 Stars" in listed.output

    assert run("grant", "--slack-team", "T0ACME", "--track", TRACK).exit_code == 0
    assert testbot.app.store.org_grants()[0]["team_id"] == "T0ACME"
    assert run("revoke", "--slack-team", "T0ACME", "--track", TRACK).exit_code == 0
    assert isinstance(run("revoke", "--slack-team", "T0ACME", "--track", TRACK).exception, CliError)
    assert isinstance(run("grant", "--track", TRACK).exception, CliError), "who is missing"

    pay(testbot, "ch-cli", NOW, stars=250)
    fake_telegram_in_thread.charges["ch-cli"] = {"user_id": 4242, "refunded": False}
    unknown = run("refund", "ch-unknown")
    assert isinstance(unknown.exception, CliError) and "no payment" in str(unknown.exception)
    refunded = run("refund", "ch-cli")
    assert refunded.exit_code == 0 and "refunded 250 Stars" in refunded.output
    [call] = fake_telegram_in_thread.calls_to("refundStarPayment")
    assert call.params == {"user_id": "4242", "telegram_payment_charge_id": "ch-cli"}
    # issue 14 row 18: the learner is told, in their private chat
    [told] = fake_telegram_in_thread.calls_to("sendMessage")
    assert str(told.params["chat_id"]) == "4242" and "250 Stars for" in told.params["text"]
    assert "was refunded" in told.params["text"] and "the learner was told" in refunded.output
    assert testbot.app.store.payment("ch-cli")["status"] == "refunded"
    again = run("refund", "ch-cli")
    assert isinstance(again.exception, CliError) and "refunded already" in str(again.exception)
    assert "ch-cli" in run("payments").output


def test_premium_lists_tracks_and_terms_come_from_settings(tmp_path):
    bot = TestBot.build(tmp_path / "data", premium_terms="Custom terms of purchase.")
    for folder in write_courses(tmp_path / "courses"):
        bot.ingest(folder)
    assert bot.say("/terms").text == "Custom terms of purchase."
    assert "Payment questions" in bot.say("/paysupport").text
    listing = bot.say("/premium", platform="telegram")
    assert "Advanced Vault Operations (3 lessons)" in listing.text and "Not for sale yet" in listing.text
    assert not leaks(listing.text)
    Premium(bot.app.store).set_price(TRACK, 100, 30, False, datetime.now(UTC))
    offer = bot.say("/premium", platform="telegram")
    assert "100 Stars for 30 days" in offer.text and offer.buttons[0][0].data == f"premium:{TRACK}"
    invoice = bot.press(f"premium:{TRACK}", platform="telegram").invoice
    assert invoice is not None and invoice.stars == 100 and invoice.payload.startswith("lb1:")
    elsewhere = bot.say("/premium")
    assert "Telegram" in elsewhere.text and not elsewhere.buttons
    assert bot.press(f"premium:{TRACK}").invoice is None
    group = IncomingMessage("telegram", bot.user, "-100", f"/premium {TRACK}", direct=False)
    [reply] = asyncio.run(bot.app.bot.handle(group))
    assert reply.invoice is None and "private" in reply.text


# -- issue 14 row 18 -------------------------------------------------------------------------------


def test_a_learner_whose_only_course_is_locked_is_pointed_to_premium(testbot):
    testbot.app.store.grant(learner(testbot), TRACK, NOW + DAY, NOW)
    assert "You are enrolled" in testbot.say(f"/enroll {PREMIUM_ID}").text
    testbot.at(NOW + 2 * DAY)
    for command in ("/lesson", "/quiz", f"/lesson {PREMIUM_ID}"):
        reply = testbot.say(command).text
        assert "/premium unlocks" in reply and "not enrolled" not in reply, command


def test_a_refund_tells_the_learner_and_a_failed_notice_keeps_the_refund(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, False, NOW)
    pay(testbot, "ch-t1", NOW)
    pay(testbot, "ch-t2", NOW + DAY)
    told: list[tuple[int, str]] = []

    async def refunder(user_id: int, charge_id: str, subscription: str) -> None:
        pass

    async def tell(user_id: int, text: str) -> None:
        told.append((user_id, text))

    async def blocked(user_id: int, text: str) -> None:
        raise RuntimeError("Forbidden: bot was blocked by the user")

    row = asyncio.run(Premium(store).refund("ch-t1", refunder, NOW + DAY, tell=tell))
    assert row["learner_told"] and told == [
        (
            4242,
            f"Your payment of 100 Stars for {TRACK} was refunded; "
            "the premium access it bought has ended. /premium shows the "
            "tracks, /paysupport answers questions.",
        )
    ]
    row = asyncio.run(Premium(store).refund("ch-t2", refunder, NOW + DAY, tell=blocked))
    assert not row["learner_told"] and store.payment("ch-t2")["status"] == "refunded"


def test_a_subscription_invoice_says_how_long_access_lasts(testbot):
    store = testbot.app.store
    Premium(store).set_price(TRACK, 100, 30, True, NOW)
    invoice = Premium(store).invoice(learner(testbot, "telegram"), TRACK, NOW)
    assert (
        "Access for 30 days; the subscription renews every 30 days until you cancel it."
        in invoice.description
    )
    assert "for month" not in invoice.description
