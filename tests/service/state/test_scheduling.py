"""The sync schedule against a real Valkey: coalescing, exclusion, triggers during a sync, lease expiry."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from service.state.keys import SYNC_DUE
from service.state.scheduling import SyncRequest, SyncSchedule

NOW = 1_800_000_000_000
LEASE = 30_000


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_burst_of_triggers_is_one_due_entry(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    for offset in range(1000):
        await schedule.request([SyncRequest("shop", NOW + offset)])
    assert await redis.zcard(SYNC_DUE) == 1
    assert await redis.zscore(SYNC_DUE, "shop") == NOW  # the earliest trigger wins


async def test_a_trigger_pulls_a_scheduled_poll_forward_but_never_back(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.schedule_missing(["shop"], NOW + 300_000)
    await schedule.request([SyncRequest("shop", NOW)])
    assert await redis.zscore(SYNC_DUE, "shop") == NOW
    await schedule.schedule_missing(["shop"], NOW + 900_000)
    assert await redis.zscore(SYNC_DUE, "shop") == NOW


async def test_only_one_claim_per_account(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    await schedule.request([SyncRequest("other", NOW)])
    first = await schedule.claim(NOW, LEASE, 10, "w1")
    second = await schedule.claim(NOW, LEASE, 10, "w2")
    assert sorted(c.account for c in first) == ["other", "shop"]
    assert second == []
    assert await schedule.claim(NOW + LEASE - 1, LEASE, 10, "w3") == []


async def test_claim_limit(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest(account, NOW) for account in [f"a{i}" for i in range(5)]])
    assert len(await schedule.claim(NOW, LEASE, 2, "w1")) == 2
    assert len(await schedule.claim(NOW, LEASE, 10, "w2")) == 3


async def test_finish_without_trigger_schedules_next_poll(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    (claim,) = await schedule.claim(NOW, LEASE, 1, "w1")
    assert await schedule.finish(claim, NOW + 300_000)
    assert await redis.zscore(SYNC_DUE, "shop") == NOW + 300_000
    assert await schedule.claim(NOW + 1000, LEASE, 1, "w1") == []


async def test_finish_of_trigger_only_account_removes_it(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    (claim,) = await schedule.claim(NOW, LEASE, 1, "w1")
    await schedule.finish(claim, None)
    assert await redis.zscore(SYNC_DUE, "shop") is None


async def test_a_trigger_during_a_sync_causes_another_sync_after_it(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    (claim,) = await schedule.claim(NOW, LEASE, 1, "w1")
    await schedule.request([SyncRequest("shop", NOW + 500)])  # arrives while the sync runs
    assert await schedule.claim(NOW + 600, LEASE, 1, "w2") == []  # still excluded while it runs
    await schedule.finish(claim, NOW + 300_000)
    (again,) = await schedule.claim(NOW + 700, LEASE, 1, "w2")
    assert again.account == "shop"


async def test_a_trigger_during_a_renewed_sync_is_kept(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    (claim,) = await schedule.claim(NOW, LEASE, 1, "w1")
    renewed = await schedule.renew(claim, NOW + 10_000, LEASE)
    assert renewed is not None
    assert await redis.zscore(SYNC_DUE, "shop") == NOW + 10_000 + LEASE
    await schedule.request([SyncRequest("shop", NOW + 11_000)])
    renewed_again = await schedule.renew(renewed, NOW + 20_000, LEASE)
    assert renewed_again is not None
    assert await redis.zscore(SYNC_DUE, "shop") == NOW + 11_000  # the trigger is not pushed back
    await schedule.finish(renewed_again, NOW + 300_000)
    assert await redis.zscore(SYNC_DUE, "shop") == NOW + 11_000


async def test_a_dead_workers_account_is_taken_over_after_its_lease(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    (claim,) = await schedule.claim(NOW, LEASE, 1, "w1")
    await redis.delete("relay:sync:lock:shop")  # the lease ran out (PX expiry, without waiting 30 s)
    (takeover,) = await schedule.claim(NOW + LEASE, LEASE, 1, "w2")
    assert takeover.token != claim.token
    assert await schedule.renew(claim, NOW + LEASE + 1, LEASE) is None  # the old owner learns it lost
    assert not await schedule.finish(claim, NOW + 999_999)  # and cannot clobber the new schedule
    assert await redis.zscore(SYNC_DUE, "shop") == NOW + 2 * LEASE


async def test_release_makes_the_account_due_at_once(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.request([SyncRequest("shop", NOW)])
    (claim,) = await schedule.claim(NOW, LEASE, 1, "w1")
    await schedule.release(claim, NOW + 5)
    (again,) = await schedule.claim(NOW + 5, LEASE, 1, "w2")
    assert again.account == "shop"


async def test_accounts_whose_sync_runs_do_not_hide_due_accounts_behind_them(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    running = [f"busy-{n:02d}" for n in range(40)]
    await schedule.request([SyncRequest(account, NOW - 1000) for account in running])
    assert len(await schedule.claim(NOW, LEASE, 40, "w1")) == 40
    # A trigger during each running sync makes it due again at once, ahead of a new account's trigger.
    await schedule.request([SyncRequest(account, NOW - 500) for account in running])
    await schedule.request([SyncRequest("waiting", NOW)])
    claims = await schedule.claim(NOW, LEASE, 1, "w2")
    assert [claim.account for claim in claims] == ["waiting"]


async def test_an_account_no_longer_due_is_not_claimed(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    await schedule.schedule_missing(["later"], NOW + 60_000)
    assert await schedule.claim(NOW, LEASE, 5, "w1") == []
    assert await schedule.due_count(NOW) == 0
    assert await schedule.due_count(NOW + 60_000) == 1
