"""Issue 14 row 9: /link codes cannot be guessed: at most 5 wrong codes per account per 10 minutes."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from bot.chat.router import LINK_FAILURE_MINUTES, LINK_MAX_FAILURES
from bot.messages import IncomingMessage
from bot.rights import erase_learner
from bot.testing import TestBot


def say(testbot: TestBot, platform: str, user: str, text: str) -> str:
    replies = asyncio.run(testbot.app.bot.handle(IncomingMessage(platform, user, user, text)))
    return replies[0].text


def test_wrong_link_codes_are_throttled_per_account(tmp_path):
    testbot = TestBot.build(tmp_path / "data")
    code = re.search(r"\b(\d{8})\b", say(testbot, "telegram", "501", "/link")).group(1)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(LINK_MAX_FAILURES):
        assert "unknown" in say(testbot, "slack", "U0GUESS", f"/link {wrong}")
    # the sixth try is refused before the code is even looked at, the right code included
    refused = say(testbot, "slack", "U0GUESS", f"/link {code}")
    assert "Too many wrong link codes" in refused and f"{LINK_FAILURE_MINUTES} minutes" in refused
    store = testbot.app.store
    assert store.resolve_learner("slack:U0GUESS") != store.resolve_learner("telegram:501")
    # another account is not held back by the guesser, and the code still works for it
    assert "Done" in say(testbot, "slack", "U0OWNER", f"/link {code}")
    # once the failures are older than the window, the account may try again
    old = (datetime.now(UTC) - timedelta(minutes=LINK_FAILURE_MINUTES + 1)).isoformat(timespec="seconds")
    store.db.execute("update link_failures set at = ?", [old])
    assert "unknown" in say(testbot, "slack", "U0GUESS", f"/link {wrong}")
    assert store.db["link_failures"].count == 1, "failures past the window are forgotten"
    # and an erase takes the account's failures with it
    erase_learner(store, store.resolve_learner("slack:U0GUESS"))
    assert store.db["link_failures"].count == 0
