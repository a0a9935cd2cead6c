"""Premium tracks for admins: ``learnbot track``, ``refund``, ``grant``, ``revoke``, ``payments``, ``buyer``.

Added to the root by :mod:`bot.cli`: ``commands`` (top-level) and the ``track`` and ``buyer`` groups.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import typer
from rich.table import Table

from bot.cli import common
from bot.premium import Premium, PremiumError, Refunder, Teller, day

commands = typer.Typer()
"""Added to the root without a name: its commands are top-level."""

track_cli = typer.Typer(help="Premium tracks: prices and what they hold.", no_args_is_help=True)
buyer_cli = typer.Typer(help="Hold or allow a learner's payments.", no_args_is_help=True)


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except PremiumError as exc:
        raise common.CliError(str(exc)) from exc


@track_cli.command("set-price")
def set_price(
    track: str = typer.Argument(..., help="The track (as named in course.toml or `ingest --track`)."),
    stars: int = typer.Argument(..., help="Price in Telegram Stars."),
    period_days: int = typer.Option(30, "--period-days", help="Days of access one payment buys."),
    subscription: bool = typer.Option(
        False, "--subscription", help="A Telegram Stars subscription that renews every 30 days."
    ),
) -> None:
    """Set a premium track's price; invoices sent at an older price are refused at checkout."""
    app = common.open_app()
    with _clear_errors():
        price = Premium(app.store).set_price(track, stars, period_days, subscription, _now())
    kind = "subscription, renews every 30 days" if price.subscription else f"{price.period_days} days"
    common.out.print(
        f"{track}: {price.stars} Stars for {kind} (price version {price.version})", highlight=False
    )


@track_cli.command("list")
def track_list() -> None:
    """Premium tracks: their courses, current price and how many learners have access now."""
    store = common.open_app().store
    tracks = store.premium_courses()
    if not tracks:
        common.out.print("no premium tracks (ingest a course with --premium --track NAME)")
        return
    table = Table("track", "courses", "price", "period", "version", "learners with access")
    now = _now()
    for track, courses in tracks.items():
        price = store.price(track)
        period = (
            ("30 days, subscription" if price.subscription else f"{price.period_days} days") if price else "-"
        )
        table.add_row(
            track or "(none)",
            ", ".join(c.course_id for c in courses),
            f"{price.stars} Stars" if price else "not for sale",
            period,
            str(price.version) if price else "-",
            str(store.active_entitlement_count(track, now)),
        )
    common.out.print(table)


def _telegram() -> tuple[str, dict[str, str]]:
    """``TELEGRAM_BOT_TOKEN`` and the Bot options for ``LEARNBOT_TELEGRAM_API_URL`` (token ``""``: unset)."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "")
    if not token:
        return "", {}
    root = common.open_app().settings.telegram_api_url.strip().rstrip("/").removesuffix("/bot")
    return token, ({"base_url": f"{root}/bot"} if root else {})


def telegram_refunder() -> Refunder | None:
    """Refunds through the Bot API with ``TELEGRAM_BOT_TOKEN`` (and ``LEARNBOT_TELEGRAM_API_URL``)."""
    token, options = _telegram()
    if not token:
        return None

    async def refund(user_id: int, charge_id: str, subscription: str) -> None:
        from telegram import Bot

        async with Bot(token, **options) as telegram:
            if subscription:  # no renewal after the refund
                await telegram.edit_user_star_subscription(user_id, subscription, is_canceled=True)
            await telegram.refund_star_payment(user_id, charge_id)

    return refund


def telegram_teller() -> Teller | None:
    """Messages a Telegram user through the Bot API (how a learner hears of a refund)."""
    token, options = _telegram()
    if not token:
        return None

    async def tell(user_id: int, text: str) -> None:
        from telegram import Bot

        async with Bot(token, **options) as telegram:
            await telegram.send_message(user_id, text)

    return tell


@commands.command()
def refund(charge_id: str = typer.Argument(..., help="The payment's telegram_payment_charge_id.")) -> None:
    """Refund a Telegram Stars payment, record it in the ledger and end the access it bought."""
    app = common.open_app()
    with _clear_errors():
        row = asyncio.run(
            Premium(app.store).refund(charge_id, telegram_refunder(), _now(), tell=telegram_teller())
        )
    told = "the learner was told" if row["learner_told"] else "the learner could not be told (see the log)"
    common.out.print(
        f"refunded {row['amount']} Stars to telegram:{row['telegram_user_id']} for "
        f"{row['track'] or '(no track)'}; its access has ended; {told}",
        highlight=False,
    )


def _until(days: int | None) -> datetime | None:
    if days is not None and days < 1:
        raise common.CliError("--days must be at least 1")
    return _now() + timedelta(days=days) if days else None


def _known_track(app, track: str) -> None:  # noqa: ANN001
    if track not in app.store.premium_courses():
        raise common.CliError(f"no premium course is in track {track!r}")


@commands.command()
def grant(
    track: str = typer.Option(..., "--track", help="The premium track."),
    slack_team: str = typer.Option(
        None, "--slack-team", help="A Slack workspace id (T0123...): all its members."
    ),
    learner: str = typer.Option(None, "--learner", help="One learner, as PLATFORM:USER_ID."),
    days: int = typer.Option(None, "--days", help="Days of access (default: until revoked)."),
) -> None:
    """Give access without payment: to every member of a Slack workspace, or to one learner."""
    if bool(slack_team) == bool(learner):
        raise common.CliError("give exactly one of --slack-team TEAM or --learner PLATFORM:USER_ID")
    app, now, until = common.open_app(), _now(), _until(days)
    _known_track(app, track)
    if slack_team:
        app.store.grant_org("slack", slack_team, track, until, now)
        who = f"every member of Slack workspace {slack_team}"
    else:
        learner_id = common.learner(app.store, learner, create=True)
        app.store.grant(learner_id, track, until, now)
        who = learner
    common.out.print(
        f"{who} has {track} until {day(until.isoformat()) if until else 'revoked'}", highlight=False
    )


@commands.command()
def revoke(
    track: str = typer.Option(..., "--track", help="The premium track."),
    slack_team: str = typer.Option(None, "--slack-team", help="The Slack workspace id."),
    learner: str = typer.Option(None, "--learner", help="One learner, as PLATFORM:USER_ID."),
) -> None:
    """End a grant now (paid access ends only by refund or expiry)."""
    if bool(slack_team) == bool(learner):
        raise common.CliError("give exactly one of --slack-team TEAM or --learner PLATFORM:USER_ID")
    app, now = common.open_app(), _now()
    if slack_team:
        count = app.store.revoke_org("slack", slack_team, track, now)
    else:
        count = app.store.revoke(common.learner(app.store, learner, create=True), track, now)
    if not count:
        raise common.CliError(f"no grant of {track} to {slack_team or learner} to revoke")
    common.out.print(f"revoked {count} grant(s) of {track} to {slack_team or learner}", highlight=False)


@commands.command()
def payments() -> None:
    """The payment ledger, oldest first."""
    rows = common.open_app().store.payments()
    table = Table("charge id", "learner", "track", "Stars", "kind", "status", "paid", "refunded")
    for r in rows:
        table.add_row(
            r["telegram_payment_charge_id"],
            str(r["learner_id"]),
            r["track"] or "-",
            str(r["amount"]),
            r["kind"],
            r["status"],
            r["paid_at"],
            r["refunded_at"] or "",
        )
    common.out.print(table)


@buyer_cli.command("block")
def buyer_block(
    who: str = typer.Argument(..., help="PLATFORM:USER_ID"),
    reason: str = typer.Option("", "--reason", help="Kept with the block, for admins."),
) -> None:
    """Refuse this learner's payments at checkout (e.g. after repeated refund requests)."""
    store = common.open_app().store
    store.block_buyer(common.learner(store, who, create=True), reason, _now())
    common.out.print(f"payments from {who} are refused until `learnbot buyer unblock {who}`", highlight=False)


@buyer_cli.command("unblock")
def buyer_unblock(who: str = typer.Argument(..., help="PLATFORM:USER_ID")) -> None:
    """Accept this learner's payments again."""
    store = common.open_app().store
    if not store.unblock_buyer(common.learner(store, who, create=True)):
        raise common.CliError(f"{who} is not blocked")
    common.out.print(f"payments from {who} are accepted again", highlight=False)
