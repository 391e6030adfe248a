"""The subscriptions' version: what workers compare to know their cached copy is stale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from service.state.subscriptions import Subscription, SubscriptionStore, new_subscription


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[SubscriptionStore]:
    redis = Redis.from_url(redis_url)
    yield SubscriptionStore(redis)
    await redis.aclose()


def subscription() -> Subscription:
    return new_subscription(
        url="https://example.com/hook", event_types=("*",), accounts=("*",), description=None, now=datetime.now(UTC)
    )


async def test_every_change_moves_the_version(store: SubscriptionStore) -> None:
    seen = {await store.version()}
    created = subscription()
    await store.save(created)
    seen.add(await store.version())
    await store.update(created.id, lambda s: s)
    seen.add(await store.version())
    await store.delete(created.id)
    seen.add(await store.version())
    assert len(seen) == 4


async def test_after_redis_lost_its_data_the_version_never_repeats(store: SubscriptionStore, redis_url: str) -> None:
    for _ in range(2):
        await store.save(subscription())
    before = await store.version()
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    assert await store.version() != before
    # The counter starts again from zero and reaches the value it had; the version still differs.
    for _ in range(2):
        await store.save(subscription())
    assert await store.version() != before
    assert (await store.version()).endswith(":" + before.rpartition(":")[2])
