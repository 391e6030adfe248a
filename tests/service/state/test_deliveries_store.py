"""`DeliveryStore` against a real Valkey: fan-out, claims and leases, outcomes, fail-all, requeue, listing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from service.state.deliveries import (
    DELIVERED,
    FAILED,
    MAX_ATTEMPTS_KEPT,
    PENDING,
    Claimed,
    DeliveryStore,
    Outcome,
    SubscriptionFigures,
)
from service.state.keys import (
    delivery_order,
    delivery_pending_since,
    delivery_queue,
    delivery_records,
    delivery_stats,
)
from service.state.subscriptions import SubscriptionStore, new_subscription

SUB = "sub_a"
NOW = 1_800_000_000_000
LEASE = 25_000


async def save_subscription(redis: Redis, subscription_id: str, *, enabled: bool = True) -> None:
    made = new_subscription(
        url="https://example.com/hook", event_types=("*",), accounts=("*",), description=None, now=datetime.now(UTC)
    )
    await SubscriptionStore(redis).save(replace(made, id=subscription_id, enabled=enabled))


@pytest.fixture
async def store(redis: Redis) -> DeliveryStore:
    for subscription_id in (SUB, "sub_b", "sub_c"):
        await save_subscription(redis, subscription_id)
    return DeliveryStore(redis)


async def test_no_delivery_for_a_disabled_or_deleted_subscription(store: DeliveryStore, redis: Redis) -> None:
    # A worker's cached subscriptions may be a moment old: the store itself checks, atomically.
    await save_subscription(redis, "sub_off", enabled=False)
    assert await store.fan_out([("sub_off", "evt_1"), ("sub_gone", "evt_1"), (SUB, "evt_1")], NOW) == [SUB]
    assert await store.queued("sub_off") == 0
    assert await store.queued("sub_gone") == 0
    assert await redis.exists(delivery_records("sub_gone")) == 0
    assert await store.requeue("sub_off", ["evt_1"], NOW) == 0
    assert await store.requeue("sub_gone", ["evt_1"], NOW) == 0
    assert await redis.exists(delivery_records("sub_gone")) == 0


def attempt(n: int, status_code: int | None = 500, error: str | None = None) -> dict[str, Any]:
    return {"at": f"2026-11-22T10:00:{n % 60:02d}Z", "status_code": status_code, "error": error, "latency_ms": n}


def recorded(
    n: int, status_code: int | None = 500, error: str | None = None, trigger: str = "scheduled"
) -> dict[str, Any]:
    """An attempt as the store keeps it: stamped with what started its round."""
    return attempt(n, status_code, error) | {"trigger": trigger}


async def statuses(store: DeliveryStore, subscription_id: str = SUB) -> dict[str, str]:
    return {row["event_id"]: row["status"] for row in await store.list(subscription_id, status=None, limit=1000)}


async def test_fan_out_creates_each_delivery_once(store: DeliveryStore, redis: Redis) -> None:
    touched = await store.fan_out([(SUB, "evt_1"), ("sub_b", "evt_1"), (SUB, "evt_2")], NOW)
    assert sorted(touched) == [SUB, "sub_b"]
    assert await store.queued(SUB) == 2
    assert await store.queued("sub_b") == 1

    again = await store.fan_out([(SUB, "evt_1"), ("sub_b", "evt_1")], NOW + 1000)
    assert again == []
    assert await store.queued(SUB) == 2
    assert await redis.hlen(delivery_records(SUB)) == 2
    # The second fan-out did not move the due time either.
    assert await redis.zscore(delivery_queue(SUB), "evt_1") == NOW

    # The same pair twice in one call is still one delivery.
    assert await store.fan_out([("sub_c", "evt_9"), ("sub_c", "evt_9")], NOW) == ["sub_c"]
    assert await store.queued("sub_c") == 1
    assert await store.fan_out([], NOW) == []


async def test_fan_out_does_not_reset_a_delivery_already_made(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", DELIVERED, None, attempt(1, 200))])
    assert await store.fan_out([(SUB, "evt_1")], NOW + 1) == []
    rows = await store.list(SUB, status=None, limit=10)
    assert [(r["status"], len(r["attempts"])) for r in rows] == [(DELIVERED, 1)]
    assert await store.queued(SUB) == 0


async def test_claim_takes_due_deliveries_and_leases_them(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1"), (SUB, "evt_2")], NOW)
    await store.fan_out([(SUB, "evt_later")], NOW + 60_000)

    assert await store.claim(SUB, NOW - 1, LEASE, 10) == []  # nothing due yet
    claimed = await store.claim(SUB, NOW, LEASE, 10)
    assert sorted(claimed, key=lambda c: c.event_id) == [Claimed("evt_1", 0), Claimed("evt_2", 0)]

    # Leased: a second claim at the same moment, or just before the lease ends, gets nothing.
    assert await store.claim(SUB, NOW, LEASE, 10) == []
    assert await store.claim(SUB, NOW + LEASE - 1, LEASE, 10) == []

    # The worker died: when the lease ends they come due again (at least once), still at try 0.
    again = await store.claim(SUB, NOW + LEASE, LEASE, 10)
    assert sorted(c.event_id for c in again) == ["evt_1", "evt_2"]
    assert {c.tries for c in again} == {0}
    # Still queued (leased), not lost.
    assert await store.queued(SUB) == 3


async def test_claim_respects_the_limit_and_takes_the_earliest_first(store: DeliveryStore) -> None:
    for n in range(5):
        await store.fan_out([(SUB, f"evt_{n}")], NOW + n)
    first = await store.claim(SUB, NOW + 10, LEASE, 2)
    assert [c.event_id for c in first] == ["evt_0", "evt_1"]
    second = await store.claim(SUB, NOW + 10, LEASE, 10)
    assert [c.event_id for c in second] == ["evt_2", "evt_3", "evt_4"]


async def test_claims_are_per_subscription(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1"), ("sub_b", "evt_1")], NOW)
    assert [c.event_id for c in await store.claim(SUB, NOW, LEASE, 10)] == ["evt_1"]
    assert [c.event_id for c in await store.claim("sub_b", NOW, LEASE, 10)] == ["evt_1"]


async def test_delivered_leaves_the_queue_with_its_attempt(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1"), (SUB, "evt_2")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", DELIVERED, None, attempt(7, 204))])

    assert await store.queued(SUB) == 1
    rows = {r["event_id"]: r for r in await store.list(SUB, status=None, limit=10)}
    assert rows["evt_1"] == {"event_id": "evt_1", "status": DELIVERED, "attempts": [recorded(7, 204)]}
    assert rows["evt_2"] == {"event_id": "evt_2", "status": PENDING, "attempts": []}
    # Never claimed again, even long after.
    assert [c.event_id for c in await store.claim(SUB, NOW + 10 * LEASE, LEASE, 10)] == ["evt_2"]


async def test_a_retry_stays_queued_until_its_next_due_time(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1")], NOW)
    assert await store.claim(SUB, NOW, LEASE, 10) == [Claimed("evt_1", 0)]
    await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 5_000, attempt(1, None, "timeout"))])

    assert await store.queued(SUB) == 1
    assert await store.claim(SUB, NOW + 4_999, LEASE, 10) == []
    assert await store.claim(SUB, NOW + 5_000, LEASE, 10) == [Claimed("evt_1", 1)]
    await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 10_000, attempt(2, 503))])
    assert await store.claim(SUB, NOW + 10_000, LEASE, 10) == [Claimed("evt_1", 2)]

    rows = await store.list(SUB, status=PENDING, limit=10)
    assert rows == [
        {"event_id": "evt_1", "status": PENDING, "attempts": [recorded(1, None, "timeout"), recorded(2, 503)]}
    ]


async def disable(redis: Redis, subscription_id: str) -> None:
    assert await SubscriptionStore(redis).update(subscription_id, lambda s: replace(s, enabled=False)) is not None


async def delete(redis: Redis, subscription_id: str) -> None:
    assert await SubscriptionStore(redis).delete(subscription_id)


@pytest.mark.parametrize("withdraw", [disable, delete], ids=["disabled", "deleted"])
async def test_a_retry_recorded_after_its_subscription_was_withdrawn_is_failed(
    store: DeliveryStore, redis: Redis, withdraw: Callable[[Redis, str], Awaitable[None]]
) -> None:
    """A lane was mid-attempt when the subscription was disabled or deleted: the retry it records must not
    leave the delivery pending and queued, since no lane serves that subscription any more."""
    await store.fan_out([(SUB, "evt_1"), ("sub_b", "evt_1")], NOW)
    assert await store.claim(SUB, NOW, LEASE, 10) == [Claimed("evt_1", 0)]
    await withdraw(redis, SUB)
    await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 5_000, attempt(1, 503))])

    assert await store.list(SUB, status=None, limit=10) == [
        {"event_id": "evt_1", "status": FAILED, "attempts": [recorded(1, 503)]}
    ]
    assert await store.queued(SUB) == 0
    assert await store.claim(SUB, NOW + 100 * LEASE, LEASE, 10) == []
    # Another subscription's delivery of the same event is untouched.
    assert await statuses(store, "sub_b") == {"evt_1": PENDING}
    assert await store.queued("sub_b") == 1


async def test_a_retry_recorded_for_an_enabled_subscription_stays_queued(store: DeliveryStore, redis: Redis) -> None:
    """The converse, and the rule reads the subscription as stored when the outcome is recorded: disabled and
    enabled again meanwhile, it is enabled."""
    await store.fan_out([(SUB, "evt_1")], NOW)
    assert await store.claim(SUB, NOW, LEASE, 10) == [Claimed("evt_1", 0)]
    await disable(redis, SUB)
    assert await SubscriptionStore(redis).update(SUB, lambda s: replace(s, enabled=True)) is not None
    await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 5_000, attempt(1, 503))])

    assert await store.list(SUB, status=None, limit=10) == [
        {"event_id": "evt_1", "status": PENDING, "attempts": [recorded(1, 503)]}
    ]
    assert await store.queued(SUB) == 1
    assert await store.claim(SUB, NOW + 4_999, LEASE, 10) == []
    assert await store.claim(SUB, NOW + 5_000, LEASE, 10) == [Claimed("evt_1", 1)]


async def test_given_up_is_failed_and_leaves_the_queue(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", FAILED, None, attempt(1, 500))])
    assert await store.queued(SUB) == 0
    assert await statuses(store) == {"evt_1": FAILED}


async def test_record_for_an_unknown_delivery_creates_nothing(store: DeliveryStore, redis: Redis) -> None:
    await store.record(SUB, [Outcome("evt_ghost", PENDING, NOW, attempt(1))])
    assert await redis.exists(delivery_queue(SUB), delivery_records(SUB)) == 0
    await store.record(SUB, [])


async def test_fail_all_fails_every_queued_delivery(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1"), (SUB, "evt_2"), (SUB, "evt_3"), ("sub_b", "evt_1")], NOW)
    await store.claim(SUB, NOW, LEASE, 1)  # evt_1 in flight: failed as well
    await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 5_000, attempt(1))])
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(SUB, [Outcome("evt_3", DELIVERED, None, attempt(2, 200))])

    assert await store.fail_all(SUB) == 2
    assert await statuses(store) == {"evt_1": FAILED, "evt_2": FAILED, "evt_3": DELIVERED}
    assert await store.queued(SUB) == 0
    assert await store.claim(SUB, NOW + 100 * LEASE, LEASE, 10) == []
    failed = {r["event_id"]: r["attempts"] for r in await store.list(SUB, status=FAILED, limit=10)}
    assert failed == {"evt_1": [recorded(1)], "evt_2": []}
    # Another subscription is untouched.
    assert await statuses(store, "sub_b") == {"evt_1": PENDING}
    assert await store.fail_all("sub_nothing") == 0


async def test_requeue_makes_deliveries_pending_again_with_their_history(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1"), (SUB, "evt_2")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(
        SUB, [Outcome("evt_1", PENDING, NOW + 1, attempt(1)), Outcome("evt_2", DELIVERED, None, attempt(2, 200))]
    )
    await store.claim(SUB, NOW + 1, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", FAILED, None, attempt(3))])
    assert await store.queued(SUB) == 0

    assert await store.requeue(SUB, ["evt_1", "evt_2", "evt_new"], NOW + 100) == 3
    rows = {r["event_id"]: r for r in await store.list(SUB, status=PENDING, limit=10)}
    assert rows == {
        "evt_1": {"event_id": "evt_1", "status": PENDING, "attempts": [recorded(1), recorded(3)]},
        "evt_2": {"event_id": "evt_2", "status": PENDING, "attempts": [recorded(2, 200)]},
        "evt_new": {"event_id": "evt_new", "status": PENDING, "attempts": []},
    }
    # Due now, and back at the start of the retry schedule.
    claimed = await store.claim(SUB, NOW + 100, LEASE, 10)
    assert sorted(claimed, key=lambda c: c.event_id) == [
        Claimed("evt_1", 0),
        Claimed("evt_2", 0),
        Claimed("evt_new", 0),
    ]
    assert await store.requeue(SUB, [], NOW) == 0


async def test_requeue_in_chunks(store: DeliveryStore) -> None:
    ids = [f"evt_{n:04d}" for n in range(1203)]
    assert await store.requeue(SUB, ids, NOW) == 1203
    assert await store.queued(SUB) == 1203


async def test_list_is_newest_first_and_filters_by_status(store: DeliveryStore) -> None:
    for n in range(6):
        await store.fan_out([(SUB, f"evt_{n}")], NOW + n * 1000)
    await store.claim(SUB, NOW + 10_000, LEASE, 10)
    await store.record(
        SUB,
        [
            Outcome("evt_1", DELIVERED, None, attempt(1, 200)),
            Outcome("evt_3", DELIVERED, None, attempt(3, 200)),
            Outcome("evt_4", FAILED, None, attempt(4, 500)),
        ],
    )
    everything = await store.list(SUB, status=None, limit=100)
    assert [r["event_id"] for r in everything] == ["evt_5", "evt_4", "evt_3", "evt_2", "evt_1", "evt_0"]
    assert all(set(r) == {"event_id", "status", "attempts"} for r in everything)
    assert [r["event_id"] for r in await store.list(SUB, status=DELIVERED, limit=100)] == ["evt_3", "evt_1"]
    assert [r["event_id"] for r in await store.list(SUB, status=FAILED, limit=100)] == ["evt_4"]
    assert [r["event_id"] for r in await store.list(SUB, status=PENDING, limit=100)] == ["evt_5", "evt_2", "evt_0"]
    assert [r["event_id"] for r in await store.list(SUB, status=None, limit=2)] == ["evt_5", "evt_4"]
    assert [r["event_id"] for r in await store.list(SUB, status=PENDING, limit=2)] == ["evt_5", "evt_2"]
    assert await store.list("sub_none", status=None, limit=10) == []


async def test_list_pages_past_one_batch(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, f"evt_{n:04d}") for n in range(1100)], NOW)
    await store.claim(SUB, NOW, LEASE, 1100)
    await store.record(SUB, [Outcome("evt_0000", DELIVERED, None, attempt(0, 200))])
    # All 1100 share one creation time; the only delivered one is found beyond the first batch of 500.
    assert [r["event_id"] for r in await store.list(SUB, status=DELIVERED, limit=10)] == ["evt_0000"]
    assert len(await store.list(SUB, status=None, limit=1000)) == 1000


async def test_replay_moves_a_delivery_to_the_top_of_the_list(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_old")], NOW)
    await store.fan_out([(SUB, "evt_new")], NOW + 1000)
    await store.requeue(SUB, ["evt_old"], NOW + 2000)
    assert [r["event_id"] for r in await store.list(SUB, status=None, limit=10)] == ["evt_old", "evt_new"]


async def test_attempts_are_capped(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1")], NOW)
    total = MAX_ATTEMPTS_KEPT + 7
    for n in range(total):
        await store.record(SUB, [Outcome("evt_1", PENDING, NOW + n + 1, attempt(n))])
    [row] = await store.list(SUB, status=None, limit=10)
    assert len(row["attempts"]) == MAX_ATTEMPTS_KEPT
    # The oldest are dropped, the newest kept, in order.
    assert [a["latency_ms"] for a in row["attempts"]] == list(range(7, total))
    # `tries` still counts every attempt since the last replay.
    assert await store.claim(SUB, NOW + total + 1, LEASE, 10) == [Claimed("evt_1", total)]


async def test_forget_removes_every_key(store: DeliveryStore, redis: Redis) -> None:
    await store.fan_out([(SUB, "evt_1"), ("sub_b", "evt_1")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 1, attempt(1))])
    keys = (
        delivery_queue(SUB),
        delivery_records(SUB),
        delivery_order(SUB),
        delivery_pending_since(SUB),
        delivery_stats(SUB),
    )
    assert await redis.exists(*keys) == 5
    await store.forget(SUB)
    assert await redis.exists(*keys) == 0
    assert await store.queued("sub_b") == 1


async def test_figures_follow_every_outcome(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1"), (SUB, "evt_2")], NOW)
    await store.fan_out([(SUB, "evt_3"), (SUB, "evt_4")], NOW + 1_000)
    await store.claim(SUB, NOW + 1_000, LEASE, 10)
    await store.record(
        SUB,
        [
            Outcome("evt_1", DELIVERED, None, attempt(1, 200)),
            Outcome("evt_2", PENDING, NOW + 60_000, attempt(2)),
            Outcome("evt_3", FAILED, None, attempt(3)),
        ],
    )
    # evt_2 waits for its retry, evt_4 is in flight: the oldest pending is evt_2, created at NOW.
    (found,) = await store.figures([SUB], NOW + 2_000)
    assert found == SubscriptionFigures(
        subscription_id=SUB,
        pending=2,
        due=0,
        oldest_pending_ms=NOW,
        attempts={DELIVERED: 1, "retry": 1, FAILED: 1},
        dead_lettered=1,
    )
    await store.claim(SUB, NOW + 60_000, LEASE, 10)
    await store.record(SUB, [Outcome("evt_2", DELIVERED, None, attempt(4, 200))])
    (found,) = await store.figures([SUB], NOW + 100_000)
    assert (found.pending, found.due, found.oldest_pending_ms) == (1, 1, NOW + 1_000)  # evt_4's lease ran out

    assert await store.fail_all(SUB) == 1
    await store.requeue(SUB, ["evt_3"], NOW + 200_000)
    (found, other) = await store.figures([SUB, "sub_b"], NOW + 200_000)
    assert (found.pending, found.oldest_pending_ms, found.dead_lettered) == (1, NOW + 200_000, 2)
    assert found.attempts == {DELIVERED: 2, "retry": 1, FAILED: 1}
    assert other == SubscriptionFigures("sub_b", 0, 0, None, {DELIVERED: 0, "retry": 0, FAILED: 0}, 0)
