"""Delivery throughput: N logged events to one local subscriber from ONE worker process, beside its
ceiling, a raw aiohttp POST loop at the same concurrency and body size, in the same run.

`python -m bench.delivery [EVENTS] [ROUNDS]`
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

from bench.common import accounts_file, median, sink_count, start_sink, wait_count, worker
from contracts.changes import detect_change
from contracts.model import Invoice, Status
from service.config import DEFAULTS
from service.state.eventlog import EventLog, PendingChange
from service.state.subscriptions import SubscriptionStore, new_subscription
from tests.support.procs import Valkey

RAW = {"uuid": "INV-BENCH000", "status": "created", "amount": Decimal("100.00"), "note": "x" * 700}


async def preload(redis_url: str, events: int, sink_url: str) -> int:
    """Log `events` events and subscribe the sink; returns the body size of one event."""
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    eventlog = EventLog(redis)
    now = datetime.now(UTC)
    size = 0
    for start in range(0, events, 500):
        pending = []
        for n in range(start, min(events, start + 500)):
            invoice = Invoice(
                account="bench",
                provider="cryptocloud",
                invoice_id=f"INV-{n:08d}",
                status=Status.PENDING,
                provider_status="created",
                amount=Decimal("100.00"),
                amount_paid=None,
                currency="USD",
                raw=RAW,
            )
            change = detect_change(None, invoice, observed_at=now)
            if change is None or change.event is None:
                raise AssertionError("first sight always makes an event")
            size = len(change.event.to_json())
            pending.append(PendingChange(invoice.invoice_id, "", change))
        await eventlog.commit("bench", pending)
    subscription = new_subscription(
        url=f"{sink_url}/hook", event_types=("*",), accounts=("*",), description=None, now=now
    )
    await SubscriptionStore(redis).save(subscription)
    await redis.aclose()
    return size


def relay_round(redis_url: str, sink_url: str, events: int, env: dict[str, str]) -> float:
    asyncio.run(preload(redis_url, events, sink_url))
    already = sink_count(sink_url)
    proc = worker(env)
    try:
        first, last = wait_count(sink_url, already + events, timeout=600)
    finally:
        proc.stop()
    return (events - 1) / (last - first)


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
    with Valkey() as redis:
        sink, sink_url = start_sink()
        env = {
            "REDIS_URL": redis.url,
            "RELAY_ACCOUNTS_FILE": str(accounts_file("")),
            "RELAY_ALLOW_PRIVATE_URLS": "true",
            "RELAY_LOG_LEVEL": "WARNING",
        }
        body_size = asyncio.run(preload(redis.url, 1, sink_url))
        relay, ceiling = [], []
        try:
            for _ in range(rounds):
                relay.append(relay_round(redis.url, sink_url, events, env))
                ceiling.append(ceiling_round(sink_url, events, body_size))
        finally:
            sink.stop()
    return {
        "rps": median(relay),
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
