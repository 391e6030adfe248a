"""Retention against a real Redis: what leaves the log past the horizon, what stays, and who trims."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from service.state.deliveries import DELIVERED, Outcome
from service.state.keys import EVENT_INDEX, EVENTS, RETENTION_LOCK
from service.state.stores import Stores
from service.state.subscriptions import new_subscription
from tests.service.support import log_events
from workers.delivery.bodies import BodyCache
from workers.delivery.fanout import Fanout
from workers.delivery.subscription_cache import SubscriptionCache
from workers.retention.trimmer import Trimmer, batch_size

ATTEMPT = {"at": "2027-01-15T08:00:00Z", "status_code": 200, "error": None, "latency_ms": 1.0}


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[Stores]:
    redis = Redis.from_url(redis_url)
    yield Stores.over(redis)
    await redis.aclose()


async def subscribe(stores: Stores) -> str:
    subscription = new_subscription(
        url="https://example.com/hook", event_types=("*",), accounts=("*",), description=None, now=datetime.now(UTC)
    )
    await stores.subscriptions.save(subscription)
    return subscription.id


async def fan_out(stores: Stores) -> None:
    await stores.fanout_feed.ensure_group()
    fanout = Fanout(
        feed=stores.fanout_feed,
        cache=SubscriptionCache(stores.subscriptions),
        store=stores.deliveries,
        bodies=BodyCache(stores.eventlog),
        wake=lambda _: None,
        consumer="c1",
    )
    while entries := await stores.fanout_feed.read("c1", 500, 10):
        await fanout.process(entries)


async def deliver(stores: Stores, subscription_id: str, event_ids: list[str]) -> None:
    now = int(time.time() * 1000)
    # Far ahead, with no lease of its own: whatever an earlier call claimed is claimed again.
    claimed = await stores.deliveries.claim(subscription_id, now + 10**8, 0, 1000)
    wanted = set(event_ids)
    await stores.deliveries.record(
        subscription_id, [Outcome(c.event_id, DELIVERED, None, ATTEMPT) for c in claimed if c.event_id in wanted]
    )


async def logged(stores: Stores, account: str, count: int) -> list[str]:
    changes = await log_events(stores.redis, account, count)
    return [change.change.event.id for change in changes if change.change.event is not None]


async def test_past_the_horizon_delivered_events_leave_with_their_records_and_recent_ones_stay(stores: Stores) -> None:
    subscription_id = await subscribe(stores)
    old = await logged(stores, "shop", 5)
    await fan_out(stores)
    await deliver(stores, subscription_id, old)
    horizon = int(time.time() * 1000) + 1
    await asyncio.sleep(0.003)  # the next events fall past the horizon's millisecond
    recent = await logged(stores, "other", 3)
    await fan_out(stores)

    round_ = await TrimmerAt(stores, horizon).trim_once()
    assert round_ is not None
    assert (round_.removed, round_.kept) == (5, 0)
    for event_id in old:
        assert await stores.eventlog.get(event_id) is None
    assert {row["event_id"] for row in await stores.deliveries.list(subscription_id, status=None, limit=100)} == set(
        recent
    )
    assert await stores.redis.xlen(EVENTS) == 3
    assert await stores.redis.hlen(EVENT_INDEX) == 3
    assert sorted(await stores.redis.zrange(f"relay:sub:{subscription_id}:order", 0, -1)) == sorted(
        e.encode() for e in recent
    )
    assert await stores.retention.oldest_kept_ms() is not None


class TrimmerAt(Trimmer):
    """A trimmer whose horizon is a given moment (the tests cannot wait a day)."""

    def __init__(self, stores: Stores, horizon_ms: int) -> None:
        super().__init__(stores, retention_s=0)
        self._retention_ms = int(time.time() * 1000) - horizon_ms


async def test_an_event_a_delivery_still_waits_on_is_kept_until_it_is_done(stores: Stores) -> None:
    waiting, done = await subscribe(stores), await subscribe(stores)
    events = await logged(stores, "shop", 4)
    await fan_out(stores)
    await deliver(stores, done, events)
    await deliver(stores, waiting, events[:2])  # the other two stay pending for this subscription

    first = await TrimmerAt(stores, int(time.time() * 1000) + 10).trim_once()
    assert first is not None
    assert (first.removed, first.kept) == (2, 2)
    assert [await stores.eventlog.get(e) is not None for e in events] == [False, False, True, True]
    # The subscription that is done keeps no record of the kept events: they are gone for it only later.
    await deliver(stores, waiting, events[2:])
    second = await TrimmerAt(stores, int(time.time() * 1000) + 10).trim_once()
    assert second is not None
    assert (second.removed, second.kept) == (2, 0)
    assert await stores.redis.xlen(EVENTS) == 0


async def test_events_the_fan_out_has_not_finished_with_are_kept(stores: Stores) -> None:
    await subscribe(stores)
    fanned = await logged(stores, "shop", 2)
    await fan_out(stores)
    unread = await logged(stores, "other", 2)  # logged after the fan-out read: not fanned out yet
    round_ = await TrimmerAt(stores, int(time.time() * 1000) + 10).trim_once()
    assert round_ is not None
    # Nothing was delivered yet: the fanned-out ones wait on their deliveries, the others on the fan-out.
    assert round_.removed == 0
    assert all([await stores.eventlog.get(e) is not None for e in fanned + unread])


async def test_one_trimmer_at_a_time_and_a_dead_ones_lock_runs_out(stores: Stores) -> None:
    await logged(stores, "shop", 3)
    await stores.fanout_feed.ensure_group()
    await stores.redis.set(RETENTION_LOCK, "a-worker-killed-mid-round", px=200)
    trimmer = TrimmerAt(stores, int(time.time() * 1000) + 10)
    assert await trimmer.trim_once() is None  # another worker holds the lock
    await asyncio.sleep(0.25)  # the dead worker's lease (200 ms) runs out
    assert await trimmer.trim_once() is not None
    assert not await stores.redis.exists(RETENTION_LOCK)  # released after the round


async def test_many_batches_and_many_subscriptions(stores: Stores) -> None:
    for _ in range(40):
        await subscribe(stores)
    assert batch_size(40) == 20_000 // 123
    events = await logged(stores, "shop", 450)
    await fan_out(stores)
    for subscription_id in await stores.subscriptions.ids():
        await deliver(stores, subscription_id, events)
    round_ = await TrimmerAt(stores, int(time.time() * 1000) + 10).trim_once()
    assert round_ is not None
    assert (round_.removed, round_.kept) == (450, 0)
    assert await stores.redis.xlen(EVENTS) == 0
    assert batch_size(0) == 500
    assert batch_size(1000) == 10
