"""The due index: which subscriptions have a delivery due, kept by every script that changes a queue, so
that idle workers learn it in one read instead of one per subscription."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from service.state.deliveries import DELIVERED, FAILED, PENDING, DeliveryStore, Outcome
from tests.service.state.test_deliveries_store import LEASE, NOW, save_subscription

ATTEMPT = {"at": "2027-01-15T08:00:00Z", "status_code": 500, "error": "HTTP 500", "latency_ms": 1.0}


@pytest.fixture
async def store(redis: Redis) -> DeliveryStore:
    for subscription_id in ("sub_a", "sub_b"):
        await save_subscription(redis, subscription_id)
    return DeliveryStore(redis)


async def test_fan_out_makes_a_subscription_due_and_a_claim_takes_it_out_until_the_lease_ends(
    store: DeliveryStore,
) -> None:
    assert await store.due_subscriptions(NOW) == []
    await store.fan_out([("sub_a", "evt_1"), ("sub_a", "evt_2"), ("sub_b", "evt_1")], NOW)
    assert sorted(await store.due_subscriptions(NOW)) == ["sub_a", "sub_b"]
    assert await store.due_subscriptions(NOW - 1) == []

    await store.claim("sub_a", NOW, LEASE, 1)
    assert sorted(await store.due_subscriptions(NOW)) == ["sub_a", "sub_b"]  # evt_2 is still due
    await store.claim("sub_a", NOW, LEASE, 10)
    assert await store.due_subscriptions(NOW) == ["sub_b"]
    assert sorted(await store.due_subscriptions(NOW + LEASE)) == ["sub_a", "sub_b"]  # a dead worker's claims


async def test_outcomes_move_the_due_time_or_take_the_subscription_out(store: DeliveryStore) -> None:
    await store.fan_out([("sub_a", "evt_1"), ("sub_a", "evt_2")], NOW)
    await store.claim("sub_a", NOW, LEASE, 10)
    await store.record("sub_a", [Outcome("evt_1", PENDING, NOW + 5_000, ATTEMPT)])
    assert await store.due_subscriptions(NOW + 4_999) == []
    assert await store.due_subscriptions(NOW + 5_000) == ["sub_a"]

    await store.record("sub_a", [Outcome("evt_1", DELIVERED, None, ATTEMPT), Outcome("evt_2", FAILED, None, ATTEMPT)])
    assert await store.due_subscriptions(NOW + LEASE * 10) == []


async def test_fail_all_forget_and_requeue_keep_the_index(store: DeliveryStore) -> None:
    await store.fan_out([("sub_a", "evt_1"), ("sub_b", "evt_1")], NOW)
    await store.fail_all("sub_a")
    await store.forget("sub_b")
    assert await store.due_subscriptions(NOW) == []

    assert await store.requeue("sub_a", ["evt_1"], NOW + 1_000) == 1
    assert await store.due_subscriptions(NOW + 1_000) == ["sub_a"]
    # The index may be early (a wake that finds nothing due), never late: a requeue only ever lowers it.
    await store.fan_out([("sub_b", "evt_9")], NOW)
    await store.requeue("sub_b", ["evt_9"], NOW + 9_000)
    assert "sub_b" in await store.due_subscriptions(NOW)
