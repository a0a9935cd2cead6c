"""``learnbot serve|chat|demo``: the chat front doors, the terminal chat and the scripted demo."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import typer

from bot.app import App
from bot.cli import common
from bot.config import SettingsError
from bot.ingest_service import start_for as start_ingest_service
from bot.logs import announce, redact, secret_values
from knowledge.loaders import load_course

commands = typer.Typer()
"""Added to the root without a name: its commands are top-level (``learnbot serve``)."""


@commands.command()
def serve(
    which: str = typer.Argument(..., help="telegram, slack or all"),
) -> None:
    """Run the chat front doors and the scheduled pushes until Ctrl-C or SIGTERM."""
    try:
        app = common.open_app()
        adapters = app.chat_adapters(which)
        asyncio.run(_serve(app, adapters))
    except KeyboardInterrupt:  # Ctrl-C while the app loads, before serve listens for it: no traceback
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - a start-up failure is one redacted line, never a traceback
        # Platform errors quote what they were given (python-telegram-bot's InvalidToken quotes the
        # token), so the message goes through the same redaction as every log record; in JSON log
        # mode it is a JSON line like every other.
        clear = isinstance(exc, (SettingsError, ValueError, ConnectionError))  # messages meant for people
        reason = str(exc) if clear else f"{type(exc).__name__}: {exc}"
        announce(f"error: could not serve: {redact(reason, secret_values())}", logging.ERROR)
        raise typer.Exit(2) from None


async def _serve(app: App, adapters: list) -> None:
    import signal

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await asyncio.to_thread(app.prepare_search)  # the index before the first learner waits for it
    await asyncio.to_thread(app.prepare_generator, announce)  # the model too: never in a first question
    started = []
    scheduler = health_server = ingest_service = None

    async def start(adapter: Any) -> bool:
        # Start-up may retry for a while (an unreachable Bot API, Slack's Socket Mode reconnecting):
        # Ctrl-C or SIGTERM then ends it instead of going unheard until start-up returns.
        starting = asyncio.ensure_future(adapter.start())
        waiting = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if starting.done():
            if starting.exception() is not None:
                with contextlib.suppress(Exception):
                    await adapter.stop()  # release what the failed start opened (HTTP sessions)
            starting.result()  # raises the start-up error
            return True
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        with contextlib.suppress(Exception):
            await adapter.stop()  # whatever the half-done start opened
        return False

    try:
        health_server = await _health(app, adapters)
        ingest_service = await start_ingest_service(app)  # `learnbot ingest` beside serve hands jobs here
        for adapter in adapters:
            if not await start(adapter):
                return
            started.append(adapter)
        # Scheduled pushes (due quizzes, weekly feedback, nudges) go out through these adapters.
        scheduler = app.learning_scheduler({a.platform: a for a in started})
        await scheduler.start()
        announce(f"serving {', '.join(type(a).__name__ for a in adapters)}; Ctrl-C to stop")
        await stopping.wait()
    finally:
        if scheduler is not None:
            await scheduler.stop()
        if ingest_service is not None:
            await ingest_service.stop()
        for adapter in reversed(started):
            await adapter.stop()
        if health_server is not None:
            await health_server.cleanup()


async def _health(app: App, adapters: list) -> Any:
    """/healthz and /metrics on LEARNBOT_HEALTH_PORT if set (the adapters' HTTP servers have them already)."""
    if app.settings.health_port:
        return await app.health.serve(app.settings.listen_host, app.settings.health_port)
    return None


@commands.command()
def chat(
    generator: str = typer.Option(None, help="Back end: local, openai or extractive."),
) -> None:
    """Chat in the terminal (the console adapter)."""
    from adapters.console import ConsoleAdapter

    app = common.open_app(generator=generator)
    asyncio.run(ConsoleAdapter(app.bot, common.chat_console()).run())


@commands.command()
def demo(
    generator: str = typer.Option(None, help="Back end: local (default), openai or extractive."),
) -> None:
    """Load the bundled sample courses and run a short scripted conversation."""
    from adapters.console import ConsoleAdapter

    app = common.open_app(generator=generator)
    root = Path(__file__).parent.parent / "sample_courses"
    for folder in sorted(p for p in root.iterdir() if (p / "course.toml").is_file()):
        course = load_course(folder)
        with common.progress(f"loading {course.course_id}") as progress:
            report = app.ingestor.ingest(course, progress)
        common.out.print(
            f"loaded {course.course_id}: {report.lessons} lessons, {report.chunks} chunks "
            f"({report.chunks_embedded} embedded)",
            style="dim",
        )
    app.prepare_search()
    app.prepare_generator(lambda line: common.out.print(line, style="dim"))
    script = [
        "/courses",
        "How long should a passphrase be?",
        "And why is that better than a short complex password?",
        "What is the best recipe for sourdough bread?",
        "收到可疑邮件应该怎么办？",
        "/enroll security-basics",
        "/next",
    ]
    asyncio.run(ConsoleAdapter(app.bot, common.chat_console()).play(script))
