"""Sync: a sandbox CryptoCloud account of N invoices (100,000 in the full run): the first sync (baseline),
a re-sync with nothing changed (must log 0 events), a re-sync with 10% changed; wall time and the worker's
peak RSS. Ceiling: fetching the same pages raw from the sandbox with no processing, one after the other.
Then full reads of another account of N invoices whose every request takes 50 ms, as a real provider's
round trip: the first (every invoice new), and a scheduled re-read (what a poll costs): what fetching pages
concurrently buys.

`python -m bench.sync [--quick]`
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import httpx

from bench.common import median
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, sandbox_process

CREDENTIALS = {"api_key": "bench-sync-key", "secret_key": "bench-sync-secret-0123456789abcdef"}
SLOW_CREDENTIALS = {"api_key": "bench-slow-key", "secret_key": "bench-slow-secret-0123456789abcdef"}
#: The provider's round trip for the second account, and the target for its full read of 100,000 invoices.
LATENCY_MS = 50
FULL_100K_TARGET_S = 15.0


def account_toml(name: str, base_url: str, credentials: dict[str, str]) -> str:
    return (
        f'[accounts.{name}]\nprovider = "cryptocloud"\nbase_url = "{base_url}"\n'
        f'api_key = "{credentials["api_key"]}"\nsecret_key = "{credentials["secret_key"]}"\n'
        'poll_interval = 0\ninitial_sync = "baseline"\n'
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def timed_sync(relay: Relay, account: str) -> float:
    before = relay.accounts()[account]["last_sync_at"]
    started = time.perf_counter()
    relay.trigger(account)
    row = relay.wait_synced(account, after=before, timeout=900)
    elapsed = time.perf_counter() - started
    if row["last_sync_status"] != "ok":
        raise RuntimeError(f"sync failed: {row}")
    return round(elapsed, 3)


def raw_fetch(sandbox_url: str, total: int) -> float:
    """Every page of the listing, fetched as the relay does (httpx, offset += 100), nothing else done."""
    today = time.strftime("%d.%m.%Y", time.gmtime())
    start = time.strftime("%d.%m.%Y", time.gmtime(time.time() - 7 * 86400))
    headers = {"Authorization": f"Token {CREDENTIALS['api_key']}"}
    started = time.perf_counter()
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=60) as client:
        offset = 0
        while offset < total:
            body = {"start": start, "end": today, "offset": offset, "limit": offset + 100}
            response = client.post("/v2/invoice/merchant/list", json=body)
            response.raise_for_status()
            offset += 100
    return round(time.perf_counter() - started, 3)


def change_some(sandbox: Sandbox, account: str, fraction: float) -> int:
    invoices = sandbox.invoices(account)
    chosen = random.Random(1).sample(invoices, int(len(invoices) * fraction))
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        for invoice in chosen:
            action = "cancel" if invoice["status"] != "canceled" else "pay"
            client.post(f"/_sandbox/accounts/{account}/invoices/{invoice['id']}/{action}", json={}).raise_for_status()
    return len(chosen)


def run(quick: bool = False) -> dict[str, object]:
    total = 20_000 if quick else 100_000
    with sandbox_process() as sandbox, Valkey() as redis:
        sandbox.create_account(name="big", provider="cryptocloud", count=total, seed=11, **CREDENTIALS)
        sandbox.create_account(
            name="slow", provider="cryptocloud", count=total, seed=12, latency_ms=LATENCY_MS, **SLOW_CREDENTIALS
        )
        ceiling = [raw_fetch(sandbox.url, total) for _ in range(2)]  # the first also renders the records once
        toml = account_toml("big", sandbox.url, CREDENTIALS) + account_toml("slow", sandbox.url, SLOW_CREDENTIALS)
        relay = Relay(redis.url, toml, env={"RELAY_LOG_LEVEL": "WARNING"})
        try:
            relay.start_web()
            worker = relay.start_worker()
            baseline = timed_sync(relay, "big")
            unchanged = [timed_sync(relay, "big") for _ in range(2 if quick else 3)]
            events_before = len(relay.events(account="big"))
            changed = change_some(sandbox, "big", 0.10)
            ten_percent = timed_sync(relay, "big")
            events = len(relay.events(account="big")) - events_before
            ceiling.append(raw_fetch(sandbox.url, total))
            first_latency50 = timed_sync(relay, "slow")
            full_latency50 = timed_sync(relay, "slow")
            rss = peak_rss_mb(worker.pid)
        finally:
            relay.stop()
    return {
        "invoices": total,
        "baseline_s": baseline,
        "resync_unchanged_s": median(unchanged) if not quick else round(sorted(unchanged)[0], 3),
        "resync_10pct_s": ten_percent,
        "ceiling_s": round(sorted(ceiling[1:])[len(ceiling[1:]) // 2], 3),
        "events_after_unchanged": events_before,
        "events_after_10pct": events,
        "changed": changed,
        "peak_rss_mb": rss,
        "first_full_latency50_s": first_latency50,
        "full_latency50_s": full_latency50,
        "full_latency50_target_s": FULL_100K_TARGET_S * total / 100_000,
        "samples": {"unchanged": unchanged, "ceiling": ceiling},
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
