"""Delivery throughput: N logged events to one local subscriber from ONE worker process, beside its
ceiling, a raw aiohttp POST loop at the same concurrency and body size, in the same run. Beside them, the
same to a subscription with `ordering: invoice` (EVENTS_PER_INVOICE events per invoice, so that each
invoice's wait their turn), and how closely two worker processes together keep to a `rate_limit`.

`python -m bench.delivery [EVENTS] [ROUNDS]`
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

from bench.common import accounts_file, median, sink_count, start_sink, wait_count, worker
from contracts.changes import Snapshot, detect_change
from contracts.model import Invoice, Status
from service.config import DEFAULTS
from service.state.eventlog import EventLog, PendingChange
from service.state.subscriptions import SubscriptionStore, new_subscription
from tests.support.procs import Valkey
from tests.support.waiting import wait_until

RAW = {"uuid": "INV-BENCH000", "status": "created", "amount": Decimal("100.00"), "note": "x" * 700}
#: Events per invoice for the ordered subscription: each invoice's go one at a time.
EVENTS_PER_INVOICE = 10
#: The rate limit measured, with two worker processes, and for how long.
RATE_LIMIT = 200
RATE_WINDOW_S = 30.0
RATE_WINDOW_QUICK_S = 5.0


def _invoice(n: int, status: Status) -> Invoice:
    return Invoice(
        account="bench",
        provider="cryptocloud",
        invoice_id=f"INV-{n:08d}",
        status=status,
        provider_status=status.value,
        amount=Decimal("100.00"),
        amount_paid=None,
        currency="USD",
        raw=RAW,
    )


async def preload(
    redis_url: str,
    events: int,
    sink_url: str,
    *,
    per_invoice: int = 1,
    ordering: str = "none",
    rate_limit: int | None = None,
) -> int:
    """Log `events` events, `per_invoice` of each invoice (sequences 1, 2, ...), and subscribe the sink;
    returns the body size of one event."""
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    eventlog = EventLog(redis)
    now = datetime.now(UTC)
    size = 0
    invoices = -(-events // per_invoice)
    previous: dict[int, Snapshot] = {}
    logged = 0
    for step in range(per_invoice):
        status = Status.PAID if step % 2 else Status.PENDING
        for start in range(0, invoices, 500):
            pending = []
            for n in range(start, min(invoices, start + 500)):
                if logged == events:
                    break
                before = previous.get(n)
                change = detect_change(before, _invoice(n, status), observed_at=now)
                if change is None or change.event is None:
                    raise AssertionError("a new status always makes an event")
                size = len(change.event.to_json())
                pending.append(PendingChange(f"INV-{n:08d}", "" if before is None else before.encode(), change))
                previous[n] = change.snapshot
                logged += 1
            await eventlog.commit("bench", pending)
    subscription = new_subscription(
        url=f"{sink_url}/hook",
        event_types=("*",),
        accounts=("*",),
        description=None,
        now=now,
        ordering=ordering,
        rate_limit=rate_limit,
    )
    await SubscriptionStore(redis).save(subscription)
    await redis.aclose()
    return size


def relay_round(
    redis_url: str, sink_url: str, events: int, env: dict[str, str], *, per_invoice: int = 1, ordering: str = "none"
) -> float:
    asyncio.run(preload(redis_url, events, sink_url, per_invoice=per_invoice, ordering=ordering))
    already = sink_count(sink_url)
    proc = worker(env)
    try:
        first, last = wait_count(sink_url, already + events, timeout=600)
    finally:
        proc.stop()
    return (events - 1) / (last - first)


def rate_limit_round(redis_url: str, sink_url: str, env: dict[str, str], window_s: float) -> float:
    """Attempts per second two worker processes make to a subscription limited to RATE_LIMIT, over `window_s`
    once the first second (and its burst) has passed: the error against the limit, in percent."""
    events = int(RATE_LIMIT * (window_s + 3))
    asyncio.run(preload(redis_url, events, sink_url, rate_limit=RATE_LIMIT))
    already = sink_count(sink_url)
    workers = [worker(env), worker(env)]
    try:
        wait_until(lambda: sink_count(sink_url) > already, timeout=30, interval=0.01, what="the first delivery")
        time.sleep(1.0)  # past the burst: the window measures the steady rate
        start, counted = time.perf_counter(), sink_count(sink_url)
        time.sleep(window_s)
        rate = (sink_count(sink_url) - counted) / (time.perf_counter() - start)
    finally:
        for proc in workers:
            proc.stop()
    return round((rate - RATE_LIMIT) / RATE_LIMIT * 100, 2)


def ceiling_round(sink_url: str, events: int, body_size: int) -> float:
    argv = [
        sys.executable,
        "-m",
        "bench.raw_post",
        f"{sink_url}/raw",
        str(events),
        str(DEFAULTS.delivery_concurrency),
        str(body_size),
    ]
    output = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return float(json.loads(output)["rps"])


def run(quick: bool = False, events: int | None = None, rounds: int | None = None) -> dict[str, float]:
    events = events or (5_000 if quick else 20_000)
    rounds = rounds or (2 if quick else 3)
    window_s = RATE_WINDOW_QUICK_S if quick else RATE_WINDOW_S
    with Valkey() as redis:
        sink, sink_url = start_sink()
        env = {
            "REDIS_URL": redis.url,
            "RELAY_ACCOUNTS_FILE": str(accounts_file("")),
            "RELAY_ALLOW_PRIVATE_URLS": "true",
            "RELAY_LOG_LEVEL": "WARNING",
        }
        body_size = asyncio.run(preload(redis.url, 1, sink_url))
        relay, ordered, ceiling = [], [], []
        try:
            for _ in range(rounds):
                relay.append(relay_round(redis.url, sink_url, events, env))
                ordered.append(
                    relay_round(redis.url, sink_url, events, env, per_invoice=EVENTS_PER_INVOICE, ordering="invoice")
                )
                ceiling.append(ceiling_round(sink_url, events, body_size))
            rate_error = rate_limit_round(redis.url, sink_url, env, window_s)
        finally:
            sink.stop()
    return {
        "rps": median(relay),
        "ordered_rps": median(ordered),
        "ordered_events_per_invoice": EVENTS_PER_INVOICE,
        "rate_limit_error_pct": rate_error,
        "rate_limit": RATE_LIMIT,
        "rate_limit_workers": 2,
        "rate_limit_window_s": window_s,
        "ceiling_rps": median(ceiling),
        "ratio": round(median(relay) / median(ceiling), 3),
        "events": events,
        "rounds": rounds,
        "concurrency": DEFAULTS.delivery_concurrency,
        "body_bytes": body_size,
    }


if __name__ == "__main__":
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(run(events=events, rounds=rounds)))
