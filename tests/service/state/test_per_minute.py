"""Per-minute counts, kept by the real scripts that write what they count, against a real Valkey."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from contracts.operational import sync_failing
from service.state.account_state import ERROR, OK, AccountStates, SyncReport
from service.state.deliveries import DELIVERED, FAILED, DeliveryStore, Outcome
from service.state.eventlog import EventLog
from service.state.keys import per_minute
from service.state.per_minute import KINDS, TTL_S, WINDOW_MINUTES, PerMinute
from service.state.scheduling import SyncRequest, SyncSchedule
from service.state.trigger_batch import TriggerBatcher
from tests.service.support import log_events


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def this_minute(redis: Redis) -> dict[str, int]:
    """Each kind's count in the current minute and the one before (by Redis's clock, as the scripts count): a
    test that crossed a minute's end counts across both."""
    seconds, _ = await redis.time()
    counts = await PerMinute(redis).last_hour(seconds)
    return {kind: sum(values[-2:]) for kind, values in counts.items()}


async def test_a_read_is_an_hour_of_zeros_before_anything_happened(redis: Redis) -> None:
    counts = await PerMinute(redis).last_hour(time.time())
    assert set(counts) == set(KINDS)
    assert all(values == [0] * WINDOW_MINUTES for values in counts.values())


async def test_callbacks_are_counted_by_the_trigger_scripts_once_each(redis: Redis) -> None:
    schedule = SyncSchedule(redis)
    now_ms = int(time.time() * 1000)
    await TriggerBatcher(schedule).request(SyncRequest("shop", now_ms, ("INV-1",)))
    assert (await this_minute(redis))["callbacks"] == 1
    assert await schedule.request_once(SyncRequest("sp", now_ms, ("INV-2",)), "notification-1", 60)
    assert not await schedule.request_once(SyncRequest("sp", now_ms, ("INV-2",)), "notification-1", 60)
    await schedule.request([SyncRequest("shop", now_ms)])  # an operator's trigger is no callback
    assert (await this_minute(redis))["callbacks"] == 2


async def test_syncs_are_counted_with_their_recorded_outcome(redis: Redis) -> None:
    states = AccountStates(redis)
    await states.record("shop", SyncReport(OK, datetime.now(UTC)))
    await states.record("shop", SyncReport(ERROR, datetime.now(UTC), error="boom"))
    assert (await this_minute(redis))["syncs"] == 2


async def test_events_are_counted_as_logged_never_twice(redis: Redis) -> None:
    await log_events(redis, "shop", 3)
    log = EventLog(redis)
    event = sync_failing(account="shop", status="auth_failed", error="no", since=datetime.now(UTC))
    assert await log.append_operational(event)
    assert not await log.append_operational(event)
    assert (await this_minute(redis))["events"] == 4


async def test_delivery_attempts_are_counted_as_recorded(redis: Redis) -> None:
    store = DeliveryStore(redis)
    await redis.hset("relay:subs", "sub_1", b'{"enabled": true}')
    await store.fan_out([("sub_1", "evt_1"), ("sub_1", "evt_2")], 1)
    attempt = {"at": "2026-11-22T10:00:00Z", "status_code": 200, "error": None, "latency_ms": 1}
    await store.record(
        "sub_1",
        [
            Outcome("evt_1", DELIVERED, None, attempt, subscriber_ok=True),
            Outcome("evt_2", FAILED, None, attempt, subscriber_ok=False),
        ],
    )
    assert (await this_minute(redis))["deliveries"] == 2


async def test_old_minutes_are_dropped_and_the_counts_expire(redis: Redis) -> None:
    seconds, _ = await redis.time()
    minute = seconds // 60
    key = per_minute("syncs")
    await redis.hset(key, mapping={str(minute - 61): 5, str(minute - 120): 5, str(minute - 58): 7})
    await AccountStates(redis).record("shop", SyncReport(OK, datetime.now(UTC)))
    kept = sorted(int(field) for field in await redis.hkeys(key))
    assert kept[0] == minute - 58
    assert kept[1:] in ([minute], [minute + 1])
    assert 0 < await redis.ttl(key) <= TTL_S
    counts = (await PerMinute(redis).last_hour(kept[-1] * 60))["syncs"]
    assert sum(counts) == 8
    assert 7 in counts
