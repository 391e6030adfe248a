"""End to end: callbacks at a fixed rate for a fixed time, each announcing a real change at the sandbox
(a new invoice), spread over the four providers; latency from sending the callback to the subscriber's
receipt of that invoice's event, p50/p95/p99, and the count of changes never delivered. Measuring starts
once one change per account has gone through (warm-up), so a worker still starting up is not counted.

`python -m bench.e2e [--quick]`
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator

import aiohttp
import httpx

from tests.e2e.conftest import NUDGE, PROVIDERS, account_table, create_sandbox_account
from tests.support.procs import Valkey, free_port, python_module
from tests.support.relay import ADMIN_TOKEN, Relay, sandbox_process
from tests.support.waiting import wait_until

DRAIN_S = 15.0


Receipts = Callable[[], dict[str, float]]


@contextlib.contextmanager
def relay_with_receipts(
    redis_url: str, toml: str, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[Relay, Receipts]]:
    """Web and `workers` worker processes (with `env` added), subscribed to a receipts sink (`bench.receipts`);
    with the function that reads what the sink received (invoice key -> when its first event arrived)."""
    port = free_port()
    sink = python_module("bench.receipts", str(port), name="receipts").start()
    relay = Relay(redis_url, toml, env={"RELAY_LOG_LEVEL": "WARNING", **(env or {})})
    try:
        sink.wait_http(f"http://127.0.0.1:{port}/receipts")
        relay.start_web()
        for _ in range(workers):
            relay.start_worker()
        relay.http.post("/subscriptions", json={"url": f"http://127.0.0.1:{port}/events"}).raise_for_status()

        def receipts() -> dict[str, float]:
            return dict(httpx.get(f"http://127.0.0.1:{port}/receipts", timeout=10).json())

        yield relay, receipts
    finally:
        relay.stop()
        sink.stop()


def collect(receipts: Receipts, sent: dict[str, float]) -> dict[str, float]:
    """The receipts once every change sent has one, or DRAIN_S has passed: what never arrives counts as missing."""
    with contextlib.suppress(AssertionError):
        wait_until(lambda: set(sent) <= set(receipts()), timeout=DRAIN_S, interval=0.5, what="all receipts")
    return receipts()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1) if ordered else float("nan")


async def drive(sandbox_url: str, relay_url: str, names: list[str], rate: float, duration: float) -> dict[str, float]:
    """Per tick: create an invoice at the sandbox, then nudge the relay; returns invoice key -> send time."""
    sent: dict[str, float] = {}
    nudge = {"authorization": f"Bearer {NUDGE}"}
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(name: str) -> None:
            async with session.post(f"{sandbox_url}/_sandbox/accounts/{name}/invoices", json={}) as created:
                invoice_id = str((await created.json())["id"])
            at = time.time()
            # SMSOnline and ISP CRM take nudges; CryptoCloud and SimplePay a polling trigger (their signed
            # callbacks are exercised by the ingest benchmark).
            if name.endswith(("sms", "isp")):
                url, headers = f"{relay_url}/webhooks/{name}", nudge
            else:
                url, headers = f"{relay_url}/accounts/{name}/sync", admin
            async with session.post(url, headers=headers) as response:
                if response.status != 202:
                    raise RuntimeError(f"callback answered {response.status}")
            sent[f"{name}:{invoice_id}"] = at  # ids can repeat across accounts; keys cannot

        started = time.perf_counter()
        tasks = []
        total = int(rate * duration)
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(names[n % len(names)])))
        await asyncio.gather(*tasks)
    return sent


def run(
    quick: bool = False, workers: int = 1, env: dict[str, str] | None = None, duration: float | None = None
) -> dict[str, object]:
    rate = 200.0
    duration = duration or (10.0 if quick else 30.0)
    names = [f"e2e{short}" for short in PROVIDERS]
    with sandbox_process() as sandbox, Valkey() as redis:
        for name, provider in zip(names, PROVIDERS.values(), strict=True):
            create_sandbox_account(sandbox, name, provider, count=0)
        toml = "\n".join(account_table(n, p, sandbox.url) for n, p in zip(names, PROVIDERS.values(), strict=True))
        with relay_with_receipts(redis.url, toml, workers, env) as (relay, receipts):
            # Warm-up, not measured: one change per account, delivered, shows the worker started (its
            # imports take about a second), its lanes are running and the subscription is known.
            warm = asyncio.run(drive(sandbox.url, relay.url, names, len(names) * 5.0, 0.2))
            wait_until(lambda: set(warm) <= set(receipts()), timeout=DRAIN_S, interval=0.05, what="warm-up receipts")
            sent = asyncio.run(drive(sandbox.url, relay.url, names, rate, duration))
            got = collect(receipts, sent)
    latencies = [(got[i] - at) * 1000 for i, at in sent.items() if i in got]
    return {
        "callbacks": len(sent),
        "rate": rate,
        "duration_s": duration,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "missing": len(set(sent) - set(got)),
        "workers": workers,
    }


if __name__ == "__main__":
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 1
    print(json.dumps(run(quick="--quick" in sys.argv, workers=workers)))
