"""Sandbox: generating a 100,000-invoice CryptoCloud account, and serving its list pages (100 records each, at
40 offsets spread over the account), first when each record is built and rendered (cold), then again (warm).
In process, over httpx's ASGI transport: the figure is the sandbox's own work, without a socket.

Targets (they were test assertions before the suite dropped wall-clock budgets): generation <= 15 s (1-2 s
on this machine: an O(n^2) step or eager rendering would blow far past it), median cold page <= 250 ms,
median warm page <= 50 ms.

`python -m bench.sandbox`
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime

import httpx

from sandbox.accounts import create_account
from sandbox.app import create_app
from sandbox.state import Sandbox

COUNT = 100_000
PAGES = 40
TARGETS = {"generate_s": 15.0, "cold_page_ms": 250.0, "warm_page_ms": 50.0}
#: A fixed "now", so that the generated invoices fall inside the listed window.
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


async def measure() -> dict[str, float]:
    sandbox = Sandbox(clock=lambda: NOW)
    started = time.perf_counter()
    create_account(sandbox, {"name": "big", "provider": "cryptocloud", "api_key": "k", "count": COUNT, "seed": 1})
    generated = time.perf_counter() - started
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:

        async def page(offset: int) -> float:
            began = time.perf_counter()
            response = await http.post(
                "/v2/invoice/merchant/list",
                headers={"Authorization": "Token k"},
                json={"start": "01.11.2026", "end": "30.11.2026", "offset": offset, "limit": offset + 100},
            )
            elapsed = time.perf_counter() - began
            body = response.json()
            if len(body["result"]) != 100 or body["all_count"] != COUNT:
                raise RuntimeError(f"unexpected page at offset {offset}: {len(body['result'])} of {body['all_count']}")
            return elapsed

        offsets = [(n * 7919) % (COUNT - 100) for n in range(PAGES)]
        cold = [await page(offset) for offset in offsets]  # each record built and rendered on first use
        warm = [await page(offset) for offset in offsets]
    await sandbox.aclose()
    return {
        "invoices": COUNT,
        "generate_s": round(generated, 2),
        "cold_page_ms": round(statistics.median(cold) * 1000, 1),
        "warm_page_ms": round(statistics.median(warm) * 1000, 1),
    }


def run(quick: bool = False) -> dict[str, float]:
    """The same in both runs: it takes a few seconds."""
    return asyncio.run(measure())


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
