"""Idle cost: a worker with many subscriptions and no traffic, its CPU and the Redis commands it sends.

One worker, one account that is never polled, N enabled subscriptions and nothing to deliver: whatever the
worker does is its idle cost. Measured over a window after start-up has settled; CPU from /proc (user +
system time of the worker process), commands from the server's own count (this Redis serves nobody else).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import accounts_file, worker
from service.state.subscriptions import SubscriptionStore, new_subscription
from tests.support.procs import Valkey

ACCOUNT = """
[accounts.idle]
provider = "cryptocloud"
base_url = "http://127.0.0.1:9"
api_key = "idle-key-0123456789"
poll_interval = 0
"""
#: Targets: under 5% of one core, under 200 Redis commands a second, with 1,000 subscriptions.
CPU_TARGET_PCT = 5.0
COMMANDS_TARGET = 200.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def subscribe(url: str, count: int) -> None:
    redis = Redis.from_url(url)
    store = SubscriptionStore(redis)
    now = datetime.now(UTC)
    for n in range(count):
        await store.save(
            new_subscription(
                url=f"https://subscriber-{n}.example/hook",
                event_types=("*",),
                accounts=("*",),
                description=None,
                now=now,
            )
        )
    await redis.aclose()


async def commands_processed(url: str) -> int:
    redis = Redis.from_url(url)
    try:
        return int((await redis.info("stats"))["total_commands_processed"])
    finally:
        await redis.aclose()


def measure(subscriptions: int, *, settle_s: float, window_s: float) -> dict[str, float]:
    with Valkey() as redis:
        asyncio.run(subscribe(redis.url, subscriptions))
        env = {"REDIS_URL": redis.url, "RELAY_ACCOUNTS_FILE": str(accounts_file(ACCOUNT)), "RELAY_LOG_LEVEL": "WARNING"}
        proc = worker(env)
        try:
            time.sleep(settle_s)  # start-up: lanes created, caches loaded
            cpu0, cmd0, t0 = cpu_seconds(proc.pid), asyncio.run(commands_processed(redis.url)), time.monotonic()
            time.sleep(window_s)
            cpu1, cmd1, t1 = cpu_seconds(proc.pid), asyncio.run(commands_processed(redis.url)), time.monotonic()
        finally:
            proc.stop()
    elapsed = t1 - t0
    return {
        "subscriptions": subscriptions,
        "cpu_pct": round((cpu1 - cpu0) / elapsed * 100, 1),
        # Less the one INFO command of the second reading.
        "redis_commands_per_s": round((cmd1 - cmd0 - 1) / elapsed, 1),
    }


def run(quick: bool = False) -> dict[str, Any]:
    window = 5.0 if quick else 15.0
    rows = [measure(n, settle_s=4.0, window_s=window) for n in (0, 1000)]
    at_1000 = rows[-1]
    return {
        "cpu_pct_1000": at_1000["cpu_pct"],
        "redis_commands_per_s_1000": at_1000["redis_commands_per_s"],
        "cpu_target_pct": CPU_TARGET_PCT,
        "commands_target_per_s": COMMANDS_TARGET,
        "rows": rows,
    }


if __name__ == "__main__":
    print(run(quick=True))
