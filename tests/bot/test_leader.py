"""One scheduler among replicas: the PostgreSQL advisory lock elects it, and a follower takes over."""

from __future__ import annotations

import asyncio

from bot.leader import ElectedScheduler, elect


class FakeScheduler:
    def __init__(self) -> None:
        self.running = False
        self.starts = 0

    async def start(self, paused: bool = False) -> None:
        self.running, self.starts = True, self.starts + 1

    async def stop(self, timeout: float = 30.0) -> None:
        self.running = False


def test_sqlite_needs_no_election(tmp_path):
    inner = FakeScheduler()
    assert elect(inner, tmp_path / "learnbot.db") is inner


async def test_one_replica_runs_the_jobs_and_another_takes_over_when_it_stops(pg_url):
    first, second = FakeScheduler(), FakeScheduler()
    a = ElectedScheduler(first, pg_url, retry_s=0.05)
    b = ElectedScheduler(second, pg_url, retry_s=0.05)
    await a.start()
    await b.start()
    await asyncio.sleep(0.3)
    assert (first.running, second.running) == (True, False)
    await a.stop()
    for _ in range(100):
        if second.running:
            break
        await asyncio.sleep(0.05)
    assert second.running and second.starts == 1
    await b.stop()
    assert not second.running
