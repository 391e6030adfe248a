"""Per-invoice ordering in `DeliveryStore` against a real Valkey: only the earliest unfinished delivery of an
invoice is ever due, through fan-out, retries, final failures, a dead worker's lease, replays, a switch of
`ordering` and retention."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from service.state.deliveries import DELIVERED, FAILED, PENDING, DeliveryStore, Outcome
from service.state.keys import delivery_heads, delivery_lines
from service.state.retention import Retention
from service.state.subscriptions import SubscriptionStore, new_subscription
from tests.service.support import log_history

SUB = "sub_ordered"
NOW = 1_800_000_000_000
LEASE = 25_000
ATTEMPT: dict[str, Any] = {"at": "2027-01-15T08:00:00Z", "status_code": 200, "error": None, "latency_ms": 1}


async def subscribe(redis: Redis, subscription_id: str = SUB, ordering: str = "invoice") -> None:
    made = new_subscription(
        url="https://example.com/hook",
        event_types=("*",),
        accounts=("*",),
        description=None,
        now=datetime.now(UTC),
        ordering=ordering,
    )
    await SubscriptionStore(redis).save(replace(made, id=subscription_id))


async def histories(redis: Redis, invoices: int, length: int) -> list[list[str]]:
    return [await log_history(redis, number, length) for number in range(invoices)]


def shuffled(histories: list[list[str]], seed: int = 3) -> list[str]:
    ids = [event_id for history in histories for event_id in history]
    random.Random(seed).shuffle(ids)
    return ids


async def claim_ids(store: DeliveryStore, at: int = NOW, subscription_id: str = SUB) -> set[str]:
    return {c.event_id for c in await store.claim(subscription_id, at, LEASE, 1000)}


def done(event_id: str, status: str = DELIVERED, next_due_ms: int | None = None) -> Outcome:
    return Outcome(event_id, status, next_due_ms, ATTEMPT)


@pytest.fixture
async def store(redis: Redis) -> DeliveryStore:
    await subscribe(redis)
    return DeliveryStore(redis)


async def test_only_the_first_of_each_invoice_is_due_and_each_finish_hands_on(
    store: DeliveryStore, redis: Redis
) -> None:
    (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = await histories(redis, 3, 3)
    # A batch in any order: what goes first is the sequence's first. (Batches come in the log's order.)
    await store.fan_out([(SUB, e) for e in shuffled([[a1, a2], [b1, b2], [c1]])], NOW)
    await store.fan_out([(SUB, e) for e in shuffled([[a3], [b3], [c2, c3]])], NOW)
    assert await store.queued(SUB) == 9
    assert await claim_ids(store) == {a1, b1, c1}
    assert await claim_ids(store) == set()

    # Delivered: the next goes. A retry: the invoice waits for it. Finally failed: the next goes too.
    await store.record(SUB, [done(a1), done(b1, PENDING, NOW + 5_000), done(c1, FAILED)])
    assert await claim_ids(store) == {a2, c2}
    assert await claim_ids(store, NOW + 5_000) == {b1}
    await store.record(SUB, [done(b1), done(a2), done(c2)])
    assert await claim_ids(store, NOW + 5_000) == {a3, b2, c3}
    await store.record(SUB, [done(a3), done(b2), done(c3)])
    assert await claim_ids(store, NOW + 5_000) == {b3}
    await store.record(SUB, [done(b3)])
    assert await store.queued(SUB) == 0
    assert await redis.exists(delivery_heads(SUB), delivery_lines(SUB)) == 0


async def test_a_dead_workers_head_comes_back_first(store: DeliveryStore, redis: Redis) -> None:
    [(a1, a2)] = await histories(redis, 1, 2)
    await store.fan_out([(SUB, a2), (SUB, a1)], NOW)
    assert await claim_ids(store) == {a1}
    # The worker dies: nothing is recorded. When the lease ends the head is due again, its successor still not.
    assert await claim_ids(store, NOW + LEASE - 1) == set()
    assert await claim_ids(store, NOW + LEASE) == {a1}
    await store.record(SUB, [done(a1)])
    assert await claim_ids(store, NOW + LEASE) == {a2}


async def test_a_replay_keeps_the_order_and_waits_behind_a_delivery_under_way(
    store: DeliveryStore, redis: Redis
) -> None:
    (a1, a2, a3), (b1, b2, b3) = await histories(redis, 2, 3)
    await store.fan_out([(SUB, e) for e in (a1, a2, a3, b1, b2, b3)], NOW)
    rounds: list[set[str]] = []
    while claimed := await claim_ids(store):
        rounds.append(claimed)
        await store.record(SUB, [done(e) for e in claimed])
    assert rounds == [{a1, b1}, {a2, b2}, {a3, b3}]

    # Everything replayed, in any order: the same order again.
    assert await store.requeue(SUB, shuffled([[a1, a2, a3], [b1, b2, b3]]), NOW) == 6
    assert await claim_ids(store) == {a1, b1}
    await store.record(SUB, [done(a1), done(b1)])
    assert await claim_ids(store) == {a2, b2}

    # a2 is under way: a replay of a1 waits behind it (and a3, in the line already, stays behind a1).
    await store.requeue(SUB, [a1], NOW)
    await store.record(SUB, [done(b2)])
    assert await claim_ids(store) == {b3}
    await store.record(SUB, [done(a2)])
    assert await claim_ids(store) == {a1}
    await store.record(SUB, [done(a1)])
    assert await claim_ids(store) == {a3}


async def test_a_replay_of_events_never_fanned_out_to_it_is_ordered_too(store: DeliveryStore, redis: Redis) -> None:
    [(a1, a2, a3)] = await histories(redis, 1, 3)
    assert await store.requeue(SUB, [a3, a1, a2], NOW) == 3
    assert await claim_ids(store) == {a1}


async def test_switching_ordering_off_releases_the_waiting_and_on_orders_new_ones(
    store: DeliveryStore, redis: Redis
) -> None:
    (a1, a2, a3), (b1, b2, b3) = await histories(redis, 2, 3)
    await store.fan_out([(SUB, e) for e in (a1, a2, a3, b1)], NOW)
    assert await claim_ids(store) == {a1, b1}
    await SubscriptionStore(redis).update(SUB, lambda s: replace(s, ordering="none"))
    assert await store.release_waiting(SUB, NOW) == 2
    assert await claim_ids(store) == {a2, a3}
    await store.record(SUB, [done(a1), done(a2), done(a3), done(b1)])  # nothing left to hand on to
    await store.fan_out([(SUB, b2), (SUB, b3)], NOW)
    assert await claim_ids(store) == {b2, b3}
    assert await redis.exists(delivery_heads(SUB), delivery_lines(SUB)) == 0


async def test_ordering_switched_off_without_the_release_still_drains_in_order(
    store: DeliveryStore, redis: Redis
) -> None:
    # The web process died between storing the PATCH and releasing: the line goes on one by one.
    [(a1, a2, a3)] = await histories(redis, 1, 3)
    await store.fan_out([(SUB, e) for e in (a1, a2, a3)], NOW)
    await SubscriptionStore(redis).update(SUB, lambda s: replace(s, ordering="none"))
    for event_id in (a1, a2, a3):
        assert await claim_ids(store) == {event_id}
        await store.record(SUB, [done(event_id)])
    assert await store.queued(SUB) == 0


async def test_an_unordered_subscription_sends_everything_at_once(store: DeliveryStore, redis: Redis) -> None:
    await subscribe(redis, "sub_free", ordering="none")
    found = await histories(redis, 2, 3)
    await store.fan_out([("sub_free", e) for e in shuffled(found)], NOW)
    assert len(await claim_ids(store, subscription_id="sub_free")) == 6


async def test_disabling_fails_the_waiting_and_deleting_forgets_the_lines(store: DeliveryStore, redis: Redis) -> None:
    [(a1, a2, a3)] = await histories(redis, 1, 3)
    await store.fan_out([(SUB, e) for e in (a1, a2, a3)], NOW)
    assert await store.fail_all(SUB) == 3
    assert {row["status"] for row in await store.list(SUB, status=None, limit=10)} == {FAILED}
    assert await redis.exists(delivery_heads(SUB), delivery_lines(SUB)) == 0
    await store.requeue(SUB, [a1, a2, a3], NOW)
    assert await redis.exists(delivery_heads(SUB), delivery_lines(SUB)) == 2
    await store.forget(SUB)
    assert await redis.exists(delivery_heads(SUB), delivery_lines(SUB)) == 0


async def test_retention_keeps_an_event_waiting_in_a_line(store: DeliveryStore, redis: Redis) -> None:
    [(a1, a2, a3)] = await histories(redis, 1, 3)
    await store.fan_out([(SUB, e) for e in (a1, a2, a3)], NOW)
    await store.record(SUB, [done(a1)])  # delivered: free to go; a2 is due, a3 waits behind it
    retention = Retention(redis)
    batch = await retention.trim_batch("0-0", f"{time.time_ns() // 1_000_000 + 60_000}-0", [SUB], 100)
    assert (batch.removed, batch.kept) == (1, 2)
    assert await claim_ids(store) == {a2}
