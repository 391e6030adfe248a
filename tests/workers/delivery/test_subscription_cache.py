"""`SubscriptionCache` against a real Redis: reloads only when the version moves, and matches events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from service.state.subscriptions import Subscription, SubscriptionStore, new_subscription
from workers.delivery.subscription_cache import SubscriptionCache

CREATED = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


class CountingStore(SubscriptionStore):
    """The store the cache reads through, noting which reads it made."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.reads: list[str] = []

    async def version(self) -> str:
        self.reads.append("version")
        return await super().version()

    async def all(self) -> list[Subscription]:
        self.reads.append("all")
        return await super().all()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def writer(redis_url: str) -> AsyncIterator[SubscriptionStore]:
    """The web process's store: its own connection, as in production."""
    client = Redis.from_url(redis_url)
    yield SubscriptionStore(client)
    await client.aclose()


def subscription(
    *, accounts: tuple[str, ...] = ("*",), event_types: tuple[str, ...] = ("*",), minutes: int = 0
) -> Subscription:
    return new_subscription(
        url="https://subscriber.example/hook",
        event_types=event_types,
        accounts=accounts,
        description=None,
        now=CREATED + timedelta(minutes=minutes),
    )


async def test_an_empty_store_loads_once(redis: Redis) -> None:
    store = CountingStore(redis)
    cache = SubscriptionCache(store)
    assert await cache.refresh() is True
    assert cache.subscriptions == {}
    assert await cache.refresh() is False
    assert store.reads == ["version", "all", "version"]


async def test_an_unchanged_version_costs_only_a_version_read(redis: Redis, writer: SubscriptionStore) -> None:
    saved = subscription()
    await writer.save(saved)
    store = CountingStore(redis)
    cache = SubscriptionCache(store)

    assert await cache.refresh() is True
    assert cache.subscriptions == {saved.id: saved}
    assert store.reads == ["version", "all"]

    store.reads.clear()
    for _ in range(3):
        assert await cache.refresh() is False
    assert store.reads == ["version"] * 3
    assert cache.subscriptions == {saved.id: saved}


async def test_a_save_update_or_delete_elsewhere_makes_the_next_refresh_reload(
    redis: Redis, writer: SubscriptionStore
) -> None:
    first, second = subscription(minutes=0), subscription(minutes=1)
    await writer.save(first)
    cache = SubscriptionCache(SubscriptionStore(redis))
    assert await cache.refresh() is True

    await writer.save(second)
    assert await cache.refresh() is True
    assert cache.subscriptions == {first.id: first, second.id: second}
    assert await cache.refresh() is False

    changed = await writer.update(first.id, lambda s: replace(s, enabled=False, url="https://moved.example/hook"))
    assert changed is not None
    assert await cache.refresh() is True
    assert cache.subscriptions[first.id] == changed[1]
    assert await cache.refresh() is False

    assert await writer.delete(second.id) is True
    assert await cache.refresh() is True
    assert cache.subscriptions == {first.id: changed[1]}
    assert await cache.refresh() is False


async def test_matching_honours_account_and_type_filters_and_skips_disabled(
    redis: Redis, writer: SubscriptionStore
) -> None:
    everything = subscription(minutes=0)
    shop_paid = subscription(accounts=("shop",), event_types=("invoice.paid",), minutes=1)
    sp_invoices = subscription(accounts=("sp", "isp"), event_types=("invoice.*",), minutes=2)
    disabled = replace(subscription(minutes=3), enabled=False)
    for saved in (everything, shop_paid, sp_invoices, disabled):
        await writer.save(saved)
    cache = SubscriptionCache(SubscriptionStore(redis))
    assert await cache.refresh() is True

    def matched(account: str, event_type: str) -> set[str]:
        return {s.id for s in cache.matching(account, event_type)}

    assert matched("shop", "invoice.paid") == {everything.id, shop_paid.id}
    assert matched("shop", "invoice.created") == {everything.id}
    assert matched("sp", "invoice.paid") == {everything.id, sp_invoices.id}
    assert matched("isp", "invoice.updated") == {everything.id, sp_invoices.id}
    assert matched("sms", "invoice.expired") == {everything.id}


async def test_disabling_and_re_enabling_shows_after_the_next_refresh(redis: Redis, writer: SubscriptionStore) -> None:
    saved = subscription(accounts=("shop",))
    await writer.save(saved)
    cache = SubscriptionCache(SubscriptionStore(redis))
    await cache.refresh()
    assert [s.id for s in cache.matching("shop", "invoice.paid")] == [saved.id]

    await writer.update(saved.id, lambda s: replace(s, enabled=False))
    assert [s.id for s in cache.matching("shop", "invoice.paid")] == [saved.id]  # the cache's copy, until refreshed
    assert await cache.refresh() is True
    assert cache.matching("shop", "invoice.paid") == []

    await writer.update(saved.id, lambda s: replace(s, enabled=True))
    assert await cache.refresh() is True
    assert [s.id for s in cache.matching("shop", "invoice.paid")] == [saved.id]


async def test_a_redis_that_lost_its_data_is_not_mistaken_for_an_unchanged_one(
    redis: Redis, writer: SubscriptionStore
) -> None:
    before = subscription(minutes=0)
    await writer.save(before)
    cache = SubscriptionCache(SubscriptionStore(redis))
    assert await cache.refresh() is True

    # The same number of changes since the data went: only the version's epoch tells the sets apart.
    await redis.flushdb()
    after = subscription(minutes=1)
    await writer.save(after)
    assert await cache.refresh() is True
    assert cache.subscriptions == {after.id: after}
