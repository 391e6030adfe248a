"""Storage: what the log costs in Redis, and whether retention keeps it flat.

1. Bytes per event, through the whole pipeline: a sandbox CryptoCloud account of N invoices, first seen by
   the relay (`initial_sync = "emit"`: one event each), logged, fanned out to one subscription and delivered
   to a local sink. Redis `used_memory` growth over that, less the growth of the account's snapshots (state,
   not history), divided by the events logged: one event with its index entry and its delivery record.
2. Memory over time: events at a steady rate through a short RELAY_RETENTION (60 s; the trimming interval at
   its default, 30 s), one worker fanning out, delivering to the sink and trimming. The events are the same
   sandbox records, their statuses cycled (a fixed set of invoices, so that snapshots do not grow), committed
   by this process through `EventLog.commit`: through the sandbox, each change of a steady stream costs an
   operator call and a callback or re-read, far below 200,000 in three minutes on this machine (see the
   analysis in `bench.run`). `used_memory` is sampled every second: steady is the median after the first
   retention period, peak the largest sample.

Full: 20,000 events measured, then 200,000 over 180 s through 60 s; quick: 5,000, then 20,000 over 30 s
through 10 s (trimmed every 5 s).

`python -m bench.storage [--quick]`
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from bench.common import accounts_file, sink_count, start_sink, worker
from contracts.accounts import Account
from contracts.changes import Snapshot, detect_change
from contracts.cryptocloud import read_page, translate
from contracts.model import Invoice, Status
from contracts.wire import HttpResponse
from service.state.eventlog import EventLog, PendingChange
from service.state.keys import EVENTS, snapshots
from service.state.subscriptions import SubscriptionStore, new_subscription
from tests.e2e.conftest import account_table, create_sandbox_account, credentials
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, sandbox_process
from tests.support.waiting import wait_until

ACCOUNT = "storage"
#: Targets: an event with its delivery record in at most this many bytes; the peak at most this times steady.
BYTES_PER_EVENT_TARGET = 1000
PEAK_TO_STEADY_TARGET = 1.2
#: Statuses the long run moves each invoice through, one event per step.
CYCLE = (Status.PAID, Status.PENDING, Status.PARTIALLY_PAID, Status.OVERPAID, Status.CANCELED)
COMMITS_PER_S = 20
#: Invoices whose statuses the long run cycles.
POOL = 2000


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def measure(url: str, key: str) -> tuple[int, int]:
    """`used_memory` (the median of three reads) and the memory of one key."""
    redis = Redis.from_url(url)
    try:
        reads = [await used_memory(redis) for _ in range(3)]
        return int(statistics.median(reads)), int(await redis.memory_usage(key, samples=0) or 0)
    finally:
        await redis.aclose()


async def exists(url: str, key: str) -> bool:
    redis = Redis.from_url(url)
    try:
        return bool(await redis.exists(key))
    finally:
        await redis.aclose()


def fetch_records(sandbox: Sandbox, total: int) -> list[object]:
    """The account's records as its CryptoCloud list endpoint answers them, read as a sync reads them."""
    found: list[object] = []
    today = time.strftime("%d.%m.%Y", time.gmtime())
    start = time.strftime("%d.%m.%Y", time.gmtime(time.time() - 7 * 86400))
    headers = {"Authorization": f"Token {credentials('cryptocloud', ACCOUNT)['api_key']}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=60) as client:
        while len(found) < total:
            body = {"start": start, "end": today, "offset": len(found), "limit": len(found) + 100}
            answer = client.post("/v2/invoice/merchant/list", json=body).raise_for_status()
            page, _ = read_page(HttpResponse(answer.status_code, dict(answer.headers), answer.content))
            if not page:
                break
            found += page
    return found


def bytes_per_event(sandbox: Sandbox) -> dict[str, Any]:
    """Phase 1: the account's events through sync, fan-out and delivery; Redis growth per event."""
    with Valkey() as redis:
        sink, sink_url = start_sink()
        toml = account_table(ACCOUNT, "cryptocloud", sandbox.url, initial_sync="emit")
        relay = Relay(redis.url, toml, env={"RELAY_LOG_LEVEL": "WARNING", "RELAY_RETENTION": "1d"})
        try:
            relay.start_web()
            relay.start_worker()
            created = relay.http.post("/subscriptions", json={"url": f"{sink_url}/hook"}).raise_for_status()
            deliveries = f"/subscriptions/{created.json()['id']}/deliveries"
            # Once the worker's fan-out has made the log and its group, only the sync and the events grow Redis.
            wait_until(lambda: asyncio.run(exists(redis.url, EVENTS)) or None, timeout=20, what="the log")
            before = asyncio.run(measure(redis.url, snapshots(ACCOUNT)))
            started = time.perf_counter()
            relay.trigger(ACCOUNT)
            row = relay.wait_synced(ACCOUNT, timeout=300)
            if row["last_sync_status"] != "ok":
                raise RuntimeError(f"sync failed: {row}")
            events = relay.events()
            wait_until(lambda: sink_count(sink_url) >= len(events) or None, timeout=300, what="the deliveries")
            wait_until(
                lambda: not relay.http.get(deliveries, params={"status": "pending", "limit": 1}).json()["deliveries"],
                timeout=60,
                what="every delivery recorded",
            )
            elapsed = time.perf_counter() - started
            after = asyncio.run(measure(redis.url, snapshots(ACCOUNT)))
        finally:
            relay.stop()
            sink.stop()
    growth, snapshot_growth = after[0] - before[0], after[1] - before[1]
    return {
        "bytes_per_event": round((growth - snapshot_growth) / len(events)),
        "measured_events": len(events),
        "pipeline_events_per_s": round(len(events) / elapsed),
        "used_memory_growth_bytes": growth,
        "snapshot_growth_bytes": snapshot_growth,
        "event_body_bytes": round(statistics.mean(len(orjson.dumps(event)) for event in events)),
    }


class Producer:
    """Events of a fixed set of invoices, each event the next status of one of them."""

    def __init__(self, invoices: list[Invoice]) -> None:
        self._invoices = invoices
        self._snapshots: list[str] = [""] * len(invoices)
        self._steps = [0] * len(invoices)
        self._next = 0

    def changes(self, count: int) -> list[PendingChange]:
        now = datetime.now(UTC)
        out = []
        for _ in range(count):
            n = self._next
            self._next = (n + 1) % len(self._invoices)
            status = CYCLE[self._steps[n] % len(CYCLE)]
            current = replace(self._invoices[n], status=status, provider_status=status.value)
            previous = Snapshot.decode(self._snapshots[n]) if self._snapshots[n] else None
            change = detect_change(previous, current, observed_at=now)
            if change is None:
                raise AssertionError("every step changes the status")
            out.append(PendingChange(current.invoice_id, self._snapshots[n], change))
            self._snapshots[n] = change.snapshot.encode()
            self._steps[n] += 1
        return out


async def produce(url: str, producer: Producer, total: int, duration_s: float) -> dict[str, Any]:
    """Commit `total` events evenly over `duration_s`, sampling `used_memory` and the log's length each second."""
    redis = Redis.from_url(url)
    eventlog = EventLog(redis)
    samples: list[tuple[float, int, int]] = []
    started = time.monotonic()

    async def sample() -> None:
        while True:
            samples.append((time.monotonic() - started, await used_memory(redis), await redis.xlen(EVENTS)))
            await asyncio.sleep(1.0)

    base = await used_memory(redis)
    sampler = asyncio.create_task(sample())
    ticks = int(duration_s * COMMITS_PER_S)
    try:
        for tick in range(ticks):
            delay = started + tick / COMMITS_PER_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            count = round((tick + 1) * total / ticks) - round(tick * total / ticks)
            result = await eventlog.commit(ACCOUNT, producer.changes(count))
            if result.logged != count:
                raise RuntimeError(f"logged {result.logged} of {count}")
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await redis.aclose()
    return {"base": base, "samples": samples, "elapsed_s": time.monotonic() - started}


def steady_state(
    redis_url: str, invoices: list[Invoice], total: int, duration_s: float, retention_s: int
) -> dict[str, Any]:
    """Phase 2: `total` events over `duration_s` through RELAY_RETENTION=`retention_s`, one worker delivering
    and trimming every `retention_s / 2` (the default's proportion)."""
    sink, sink_url = start_sink()
    asyncio.run(subscribe(redis_url, f"{sink_url}/hook"))
    env = {
        "REDIS_URL": redis_url,
        "RELAY_ACCOUNTS_FILE": str(accounts_file("")),
        "RELAY_ALLOW_PRIVATE_URLS": "true",
        "RELAY_LOG_LEVEL": "WARNING",
        "RELAY_RETENTION": str(retention_s),
        "RELAY_RETENTION_INTERVAL": str(retention_s / 2),
    }
    proc = worker(env)
    try:
        wait_until(lambda: asyncio.run(exists(redis_url, EVENTS)) or None, timeout=20, what="the worker's fan-out")
        run = asyncio.run(produce(redis_url, Producer(invoices), total, duration_s))
        delivered = sink_count(sink_url)
    finally:
        proc.stop()
        sink.stop()
    samples = run["samples"]
    steady = [used for at, used, _ in samples if at >= retention_s]
    retained = [length for at, _, length in samples if at >= retention_s]
    steady_bytes, peak_bytes = statistics.median(steady), max(used for _, used, _ in samples)
    return {
        "steady_mb": round(steady_bytes / 2**20, 1),
        "peak_mb": round(peak_bytes / 2**20, 1),
        "peak_to_steady": round(peak_bytes / steady_bytes, 3),
        "base_mb": round(run["base"] / 2**20, 1),
        "retained_events_median": int(statistics.median(retained)),
        "steady_bytes_per_retained_event": round((steady_bytes - run["base"]) / statistics.median(retained)),
        "events": total,
        "produce_s": round(run["elapsed_s"], 1),
        "rate_per_s": round(total / duration_s),
        "delivered_by_end": delivered,
        "retention_s": retention_s,
        "trim_interval_s": retention_s / 2,
        "memory_mb_each_s": [round(used / 2**20, 1) for _, used, _ in samples],
    }


async def subscribe(url: str, target: str) -> None:
    redis = Redis.from_url(url)
    subscription = new_subscription(
        url=target, event_types=("*",), accounts=("*",), description=None, now=datetime.now(UTC)
    )
    await SubscriptionStore(redis).save(subscription)
    await redis.aclose()


def run(quick: bool = False) -> dict[str, Any]:
    measured = 5_000 if quick else 20_000
    total, duration_s, retention_s = (20_000, 30.0, 10) if quick else (200_000, 180.0, 60)
    with sandbox_process() as sandbox:
        create_sandbox_account(sandbox, ACCOUNT, "cryptocloud", count=measured, seed=21)
        per_event = bytes_per_event(sandbox)
        account = Account(name=ACCOUNT, provider="cryptocloud", base_url=sandbox.url)
        invoices = [translate(account, record) for record in fetch_records(sandbox, POOL)]
    with Valkey() as redis:
        steady = steady_state(redis.url, invoices, total, duration_s, retention_s)
    return {
        **per_event,
        **steady,
        "bytes_per_event_target": BYTES_PER_EVENT_TARGET,
        "peak_to_steady_target": PEAK_TO_STEADY_TARGET,
        "invoice_pool": len(invoices),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
