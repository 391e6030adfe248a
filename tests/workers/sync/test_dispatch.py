"""The dispatcher against a real Redis and arq's queue: each due account becomes one sync job, once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from service.state.scheduling import Claim, SyncRequest, SyncSchedule
from workers.sync.dispatch import Dispatcher

LEASE_MS = 30_000


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        RedisSettings.from_dsn(redis_url), job_serializer=orjson.dumps, job_deserializer=orjson.loads
    )
    yield pool
    await pool.aclose()


async def queued(queue: ArqRedis) -> list[tuple[str, ...]]:
    return sorted(tuple(job.args) for job in await queue.queued_jobs())


async def test_each_due_account_is_queued_once_with_its_claim(queue: ArqRedis) -> None:
    schedule = SyncSchedule(queue)
    dispatcher = Dispatcher(schedule, queue, LEASE_MS)
    now = int(time.time() * 1000)
    await schedule.request([SyncRequest(account, now) for account in ["shop", "store"]])
    await schedule.schedule_missing(["later"], now + 600_000)

    assert await dispatcher.dispatch_once() == 2
    assert await dispatcher.dispatch_once() == 0  # claimed: not queued again while the lease runs

    jobs = await queue.queued_jobs()
    assert sorted(job.function for job in jobs) == ["sync_account", "sync_account"]
    by_account = {job.args[0]: job.args for job in jobs}
    assert set(by_account) == {"shop", "store"}
    for account, token, lease_end_ms in by_account.values():
        assert token.endswith(":" + account)
        assert now + LEASE_MS <= lease_end_ms <= int(time.time() * 1000) + LEASE_MS
        # The job's claim is the live one: renewing it succeeds.
        assert await schedule.renew(Claim(account, token, lease_end_ms), int(time.time() * 1000), LEASE_MS)


async def test_two_dispatchers_never_queue_one_account_twice(queue: ArqRedis) -> None:
    schedule = SyncSchedule(queue)
    first, second = Dispatcher(schedule, queue, LEASE_MS), Dispatcher(schedule, queue, LEASE_MS)
    await schedule.request(
        [SyncRequest(account, int(time.time() * 1000)) for account in [f"acct-{n}" for n in range(30)]]
    )
    total = 0
    while (claimed := await first.dispatch_once() + await second.dispatch_once()) > 0:
        total += claimed
    assert total == 30
    assert len({args[0] for args in await queued(queue)}) == 30


async def test_a_trigger_after_the_claim_queues_another_sync_once_the_first_finishes(queue: ArqRedis) -> None:
    schedule = SyncSchedule(queue)
    dispatcher = Dispatcher(schedule, queue, LEASE_MS)
    await schedule.request([SyncRequest("shop", int(time.time() * 1000))])
    assert await dispatcher.dispatch_once() == 1
    (job,) = await queue.queued_jobs()
    await schedule.request([SyncRequest("shop", int(time.time() * 1000))])  # a callback during the sync
    assert await dispatcher.dispatch_once() == 0  # the running sync still holds the account

    assert await schedule.finish(Claim(*job.args), None)
    assert await dispatcher.dispatch_once() == 1


async def wait_for_jobs(queue: ArqRedis, count: int, timeout_s: float) -> float:
    """Seconds until `count` jobs are queued (polling); fails past `timeout_s`."""
    started = time.monotonic()
    while len(await queue.queued_jobs()) < count:
        assert time.monotonic() - started < timeout_s, f"fewer than {count} jobs after {timeout_s}s"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_an_idle_dispatcher_wakes_at_once_for_a_trigger_and_on_time_for_a_poll(queue: ArqRedis) -> None:
    schedule = SyncSchedule(queue)
    task = asyncio.create_task(Dispatcher(schedule, queue, LEASE_MS).run_forever())
    try:
        await asyncio.sleep(0.05)  # let it subscribe and go idle (nothing is due)
        await schedule.request([SyncRequest("triggered", int(time.time() * 1000))])
        assert await wait_for_jobs(queue, 1, timeout_s=0.5) < 0.5  # well before the 1 s idle cap
        await schedule.schedule_missing(["polled"], int(time.time() * 1000) + 300)
        await schedule.request([SyncRequest("nudge", int(time.time() * 1000))])  # wakes it to see the new due time
        elapsed = await wait_for_jobs(queue, 3, timeout_s=1.5)
        assert 0.25 < elapsed < 0.9
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
