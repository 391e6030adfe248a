"""End to end at scale: one CryptoCloud account of many invoices across its lookback window, 50 ms per
provider request, signed postbacks at a fixed rate, each for a distinct invoice just paid at the sandbox.
Latency from sending the postback to the subscriber's receipt of that payment's event, and the provider
requests the relay made meanwhile: each callback should cost one narrow read, not a read of the account.

`python -m bench.e2e_scale [--quick]`
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

from bench.e2e import collect, percentile, relay_with_receipts
from contracts.times import parse_time
from tests.e2e.conftest import account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Sandbox, sandbox_process

ACCOUNT = "scale"
LATENCY_MS = 50
#: Targets: p95 within this, and nothing missing.
P95_TARGET_MS = 250.0


async def drive(sandbox: Sandbox, relay_url: str, invoices: list[str], rate: float) -> dict[str, float]:
    """Per tick: pay the next invoice at the sandbox, then have it send its signed postback to the relay;
    returns invoice key -> the time the postback was sent."""
    sent: dict[str, float] = {}
    base = f"{sandbox.url}/_sandbox/accounts/{ACCOUNT}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one(invoice_id: str) -> None:
            async with session.post(f"{base}/invoices/{invoice_id}/pay", json={}) as paid:
                paid.raise_for_status()
            at = time.time()
            body = {"url": f"{relay_url}/webhooks/{ACCOUNT}", "invoice_id": invoice_id}
            async with session.post(f"{base}/callbacks", json=body) as answer:
                if (await answer.json()).get("status_code") != 202:
                    raise RuntimeError(f"postback answered {await answer.text()}")
            sent[f"{ACCOUNT}:{invoice_id}"] = at

        started = time.perf_counter()
        tasks = []
        for n, invoice_id in enumerate(invoices):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(invoice_id)))
        await asyncio.gather(*tasks)
    return sent


#: The small case: an account of 600 invoices, a provider answering at once, 100 postbacks a second.
SMALL = (600, 0, 100.0)
SMALL_P95_TARGET_MS = 60.0


def run(quick: bool = False) -> dict[str, Any]:
    invoices, rate, duration = (5_000, 20.0, 10.0) if quick else (20_000, 20.0, 30.0)
    large = measure(invoices, LATENCY_MS, rate, duration)
    small_invoices, small_latency, small_rate = SMALL
    # 100 postbacks a second for 3 s: 300 payments, most of the account's open invoices.
    small = measure(small_invoices, small_latency, small_rate, 3.0)
    return {
        **large,
        "p95_target_ms": P95_TARGET_MS,
        "small": {**small, "p95_target_ms": SMALL_P95_TARGET_MS},
    }


def measure(invoices: int, latency_ms: int, rate: float, duration: float) -> dict[str, Any]:
    with sandbox_process() as sandbox, Valkey() as redis:
        create_sandbox_account(sandbox, ACCOUNT, "cryptocloud", count=invoices, latency_ms=latency_ms)
        # Baseline: the first read records the account silently, so the first event of an invoice is its payment.
        toml = account_table(ACCOUNT, "cryptocloud", sandbox.url, initial_sync="baseline")
        with relay_with_receipts(redis.url, toml) as (relay, receipts):
            started = time.perf_counter()
            relay.trigger(ACCOUNT).raise_for_status()
            relay.wait_synced(ACCOUNT, timeout=300)
            full_read_s = round(time.perf_counter() - started, 1)
            open_ids = [str(i["id"]) for i in sandbox.invoices(ACCOUNT) if i["status"] == "created"]
            wanted = int(rate * duration)
            if len(open_ids) < wanted:
                raise RuntimeError(f"only {len(open_ids)} open invoices for {wanted} payments")
            requests_before = sandbox.stats(ACCOUNT)["requests"]
            sent = asyncio.run(drive(sandbox, relay.url, open_ids[:wanted], rate))
            got = collect(receipts, sent)
            requests = sandbox.stats(ACCOUNT)["requests"] - requests_before
            # When the relay observed each change (the event's timestamp): splits the latency into reading
            # the provider and delivering.
            observed = {
                event["data"]["invoice"]["key"]: parse_time(event["timestamp"]).timestamp()
                for event in relay.events(account=ACCOUNT)
            }
    latencies = [(got[key] - at) * 1000 for key, at in sent.items() if key in got]
    logged = [(observed[key] - at) * 1000 for key, at in sent.items() if key in observed]
    return {
        "invoices": invoices,
        "latency_ms": latency_ms,
        "rate": rate,
        "duration_s": duration,
        "callbacks": len(sent),
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "missing": len(set(sent) - set(got)),
        "logged_p50_ms": percentile(logged, 0.50),
        "logged_p95_ms": percentile(logged, 0.95),
        "provider_requests": requests,
        "first_full_read_s": full_read_s,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
