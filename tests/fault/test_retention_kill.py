"""Trimming across two worker processes, the one trimming SIGKILLed in the middle of a round: the other takes
the lock over once its lease ends and finishes; nothing is removed twice, nothing past the horizon is left
behind, and what is kept is whole (log entry, index, delivery records)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from service.state.deliveries import DELIVERED, PENDING, Outcome
from service.state.keys import EVENT_INDEX, EVENTS, RETENTION_LOCK, delivery_order, delivery_records
from service.state.stores import Stores
from service.state.subscriptions import new_subscription
from tests.service.support import log_events
from tests.support.procs import Proc, Valkey, free_port
from tests.support.relay import relay_stack
from tests.support.waiting import wait_until
from workers.delivery.bodies import BodyCache
from workers.delivery.fanout import Fanout
from workers.delivery.subscription_cache import SubscriptionCache
from workers.retention.trimmer import LEASE_INTERVALS

pytestmark = pytest.mark.fault

BULK = 5000
HELD = 5
#: Subscriptions matching none of the events: every entry trimmed looks at each of them, so batches are small
#: and a round lasts long enough to be interrupted.
IDLE_SUBSCRIPTIONS = 150
INTERVAL_S = 1.0
ATTEMPT = {"at": "2027-01-15T08:00:00Z", "status_code": 200, "error": None, "latency_ms": 1.0}


async def prepare(redis_url: str) -> dict[str, Any]:
    """A log of BULK events every subscription is done with, and HELD events one subscription still waits for,
    all fanned out; returns the ids and the kept events' bodies."""
    redis = Redis.from_url(redis_url)
    stores = Stores.over(redis)
    nowhere = f"http://127.0.0.1:{free_port()}/hook"  # refuses connections: a pending delivery stays pending
    now = datetime.now(UTC)

    async def subscribe(accounts: tuple[str, ...]) -> str:
        subscription = new_subscription(url=nowhere, event_types=("*",), accounts=accounts, description=None, now=now)
        await stores.subscriptions.save(subscription)
        return subscription.id

    every, waiting = await subscribe(("*",)), await subscribe(("held",))
    for _ in range(IDLE_SUBSCRIPTIONS):
        await subscribe(("nobody",))
    bulk = [c.change.event.id for c in await log_events(redis, "bulk", BULK) if c.change.event]
    held = [c.change.event.id for c in await log_events(redis, "held", HELD) if c.change.event]

    await stores.fanout_feed.ensure_group()
    fanout = Fanout(
        feed=stores.fanout_feed,
        cache=SubscriptionCache(stores.subscriptions),
        store=stores.deliveries,
        bodies=BodyCache(stores.eventlog),
        wake=lambda _: None,
        consumer="test",
    )
    while entries := await stores.fanout_feed.read("test", 1000, 10):
        await fanout.process(entries)
    claimed = await stores.deliveries.claim(every, int(time.time() * 1000), 10**8, BULK + HELD)
    assert len(claimed) == BULK + HELD
    await stores.deliveries.record(every, [Outcome(c.event_id, DELIVERED, None, ATTEMPT) for c in claimed])
    bodies = await stores.eventlog.bodies(held)
    await redis.aclose()
    return {"bulk": bulk, "held": held, "every": every, "waiting": waiting, "bodies": bodies}


def holder_pid(control: redis_sync.Redis) -> int | None:
    """The pid in the retention lock's token (`host-pid-random`), None when nobody holds it."""
    token = cast(bytes | None, control.get(RETENTION_LOCK))
    return None if token is None else int(token.decode().rsplit("-", 2)[1])


def log_length(control: redis_sync.Redis) -> int:
    return cast(int, control.xlen(EVENTS))


def trimmed_totals(worker: Proc) -> int:
    """Events the worker's finished rounds say they removed."""
    total = 0
    for line in worker.log().splitlines():
        if '"log_trimmed"' in line:
            total += int(json.loads(line)["removed"])
    return total


async def leftovers(redis_url: str, prepared: dict[str, Any]) -> dict[str, Any]:
    redis = Redis.from_url(redis_url)
    stores = Stores.over(redis)
    listed: list[str] = []
    after = None
    while True:
        page, after = await stores.eventlog.page(after=after, limit=1000)
        listed += [event.event_id for event in page]
        if after is None:
            break
    found: dict[str, Any] = {
        "listed": listed,
        "bulk_bodies": await stores.eventlog.bodies(prepared["bulk"]),
        "held_bodies": await stores.eventlog.bodies(prepared["held"]),
        "index": await redis.hlen(EVENT_INDEX),
        "log": await redis.xlen(EVENTS),
    }
    for name in ("every", "waiting"):
        subscription_id = prepared[name]
        rows = await stores.deliveries.list(subscription_id, status=None, limit=BULK * 2)
        found[name] = {row["event_id"]: row["status"] for row in rows}
        found[name + "_records"] = await redis.hlen(delivery_records(subscription_id))
        found[name + "_order"] = await redis.zcard(delivery_order(subscription_id))
    await redis.aclose()
    return found


def test_a_trimmer_killed_mid_round_leaves_the_rest_to_the_other_worker_after_its_lease() -> None:
    env = {"RELAY_RETENTION": "1", "RELAY_RETENTION_INTERVAL": str(INTERVAL_S)}
    with Valkey() as redis:
        prepared = asyncio.run(prepare(redis.url))
        total = BULK + HELD
        control = redis_sync.Redis.from_url(redis.url)
        assert log_length(control) == total
        with relay_stack(redis.url, "", workers=2, env=env) as relay:
            workers = {worker.pid: worker for worker in relay.workers}

            def trimming() -> int | None:
                """The pid of the worker holding the lock once it has trimmed a quarter of the log, not three."""
                pid = holder_pid(control)
                left = log_length(control)
                return pid if pid in workers and HELD + BULK // 4 < left < total - BULK // 4 else None

            victim_pid = wait_until(trimming, timeout=30, interval=0.005, what="a worker trimming the log")
            victim = workers.pop(victim_pid)
            victim.kill()
            killed_at = time.monotonic()
            (survivor,) = workers.values()

            # The dead worker's lock outlives it; its last batch, if one was running, is done (one script).
            lengths: list[int] = []

            def settled() -> int | None:
                lengths.append(log_length(control))
                return lengths[-1] if len(lengths) >= 3 and len(set(lengths[-3:])) == 1 else None

            left_by_victim = wait_until(settled, timeout=5, interval=0.05, what="the log to stop shrinking")
            assert holder_pid(control) == victim_pid, "the lock was taken over before its lease ended"
            assert HELD < left_by_victim < total, "the round was not interrupted"

            taken_over = wait_until(
                lambda: holder_pid(control) == survivor.pid or log_length(control) == HELD or None,
                timeout=LEASE_INTERVALS * INTERVAL_S + 30,
                interval=0.005,
                what="the other worker to take the lock over",
            )
            assert taken_over
            assert time.monotonic() - killed_at >= (LEASE_INTERVALS - 0.5) * INTERVAL_S, "the lease was not kept"
            wait_until(lambda: log_length(control) == HELD or None, timeout=30, what="the trimming to finish")
            wait_until(
                lambda: trimmed_totals(survivor) == left_by_victim - HELD or None,
                timeout=10,
                what=f"the survivor's rounds to report removing {left_by_victim - HELD} events",
            )
            # Nothing removed twice: what each worker reports removing adds up to no more than what left the log.
            assert trimmed_totals(victim) + trimmed_totals(survivor) <= BULK
            assert survivor.alive()

        found = asyncio.run(leftovers(redis.url, prepared))
        held = set(prepared["held"])
        # Nothing past the horizon left behind: no entry, no index entry, no delivery record of a removed event.
        assert found["bulk_bodies"] == {}
        assert (found["log"], found["index"]) == (HELD, HELD)
        assert set(found["listed"]) == held
        # What is kept is whole: the entry, its index entry and every subscription's record of it.
        assert found["held_bodies"] == prepared["bodies"]
        assert found["every"] == dict.fromkeys(held, DELIVERED)
        assert found["waiting"] == dict.fromkeys(held, PENDING)
        for name in ("every", "waiting"):
            assert found[name + "_records"] == found[name + "_order"] == HELD
