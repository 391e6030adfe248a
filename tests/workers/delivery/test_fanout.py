"""Fan-out against a real Redis, without web or worker processes: each logged event becomes one delivery per
matching enabled subscription, acknowledged only once the deliveries exist."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from contracts.model import Status
from service.state.deliveries import DeliveryStore
from service.state.eventlog import GroupMissing
from service.state.stores import Stores
from service.state.subscriptions import new_subscription
from tests.service.support import log_events
from workers.delivery.bodies import BodyCache
from workers.delivery.fanout import Fanout
from workers.delivery.subscription_cache import SubscriptionCache


class FailingOnce(DeliveryStore):
    """A delivery store whose next fan-out write fails, as a worker killed between reading and writing would."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.failures_left = 1

    async def fan_out(self, pairs: Sequence[tuple[str, str]], now_ms: int) -> list[str]:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the worker died here")
        return await super().fan_out(pairs, now_ms)


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[Stores]:
    redis = Redis.from_url(redis_url)
    yield Stores.over(redis)
    await redis.aclose()


def fanout(stores: Stores, store: DeliveryStore, consumer: str, woken: list[str], *, idle_ms: int = 30_000) -> Fanout:
    def wake(subscription_ids: Iterable[str]) -> None:
        woken.extend(subscription_ids)

    return Fanout(
        feed=stores.fanout_feed,
        cache=SubscriptionCache(stores.subscriptions),
        store=store,
        bodies=BodyCache(stores.eventlog),
        wake=wake,
        consumer=consumer,
        reclaim_idle_ms=idle_ms,
    )


async def subscribe(
    stores: Stores, *, accounts: tuple[str, ...] = ("*",), event_types: tuple[str, ...] = ("*",)
) -> str:
    subscription = new_subscription(
        url="https://example.com/hook",
        event_types=event_types,
        accounts=accounts,
        description=None,
        now=datetime.now(UTC),
    )
    await stores.subscriptions.save(subscription)
    return subscription.id


async def pending_ids(stores: Stores, subscription_id: str) -> set[str]:
    return {row["event_id"] for row in await stores.deliveries.list(subscription_id, status="pending", limit=1000)}


async def test_each_event_becomes_one_delivery_per_matching_subscription(stores: Stores) -> None:
    everything = await subscribe(stores)
    paid_only = await subscribe(stores, event_types=("invoice.paid",))
    other_account = await subscribe(stores, accounts=("elsewhere",))
    changes = await log_events(stores.redis, "shop", [Status.PENDING, Status.PAID])
    event_ids = [change.change.event.id for change in changes if change.change.event is not None]
    woken: list[str] = []
    worker = fanout(stores, stores.deliveries, "c1", woken)
    await stores.fanout_feed.ensure_group()

    await worker.process(await stores.fanout_feed.read("c1", 100, 10))

    assert await pending_ids(stores, everything) == set(event_ids)
    assert await pending_ids(stores, paid_only) == {event_ids[1]}
    assert await pending_ids(stores, other_account) == set()
    assert sorted(woken) == sorted([everything, paid_only])
    # Acknowledged: nothing is left for anyone to reclaim.
    assert await stores.fanout_feed.reclaim("c2", 0, "0-0", 100) == ("0-0", [])


async def test_a_crash_between_reading_and_fanning_out_is_reclaimed_and_delivered(stores: Stores) -> None:
    subscription_id = await subscribe(stores)
    changes = await log_events(stores.redis, "shop", 3)
    event_ids = {change.change.event.id for change in changes if change.change.event is not None}
    await stores.fanout_feed.ensure_group()
    dying = fanout(stores, FailingOnce(stores.redis), "dying", [])

    with pytest.raises(ConnectionError):
        await dying.process(await stores.fanout_feed.read("dying", 100, 10))
    assert await pending_ids(stores, subscription_id) == set()

    # Another worker's reclaim takes the unacknowledged entries over and fans them out.
    woken: list[str] = []
    survivor = fanout(stores, stores.deliveries, "survivor", woken, idle_ms=0)
    await survivor.reclaim()
    assert await pending_ids(stores, subscription_id) == event_ids
    assert woken == [subscription_id]
    assert await stores.fanout_feed.reclaim("third", 0, "0-0", 100) == ("0-0", [])


async def test_fanning_out_twice_after_a_crash_makes_no_second_delivery(stores: Stores) -> None:
    subscription_id = await subscribe(stores)
    await log_events(stores.redis, "shop", 2)
    await stores.fanout_feed.ensure_group()
    entries = await stores.fanout_feed.read("c1", 100, 10)
    first = fanout(stores, stores.deliveries, "c1", [])
    await first.process(entries)
    now = int(time.time() * 1000)
    claimed = await stores.deliveries.claim(subscription_id, now, 60_000, 10)
    assert len(claimed) == 2

    await first.process(entries)  # the same entries again, as after a crash before the acknowledgement

    assert len(await stores.deliveries.list(subscription_id, status=None, limit=100)) == 2
    assert await stores.deliveries.claim(subscription_id, now, 60_000, 10) == []  # still leased, not reset


async def test_a_vanished_log_is_reported_as_a_missing_group_and_recreated(stores: Stores) -> None:
    await stores.fanout_feed.ensure_group()
    await stores.redis.flushdb()
    with pytest.raises(GroupMissing):
        await stores.fanout_feed.read("c1", 10, 10)
    await stores.fanout_feed.ensure_group()
    assert await stores.fanout_feed.read("c1", 10, 10) == []
