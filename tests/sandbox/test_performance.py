"""A 100,000-invoice account: generated in seconds, its list pages served in milliseconds."""

from __future__ import annotations

import statistics
import time

import httpx

from sandbox.accounts import create_account
from sandbox.app import create_app
from sandbox.state import Sandbox
from tests.sandbox.conftest import Clock

COUNT = 100_000


async def test_list_pages_of_a_100k_account_are_fast() -> None:
    sb = Sandbox(clock=Clock())
    started = time.perf_counter()
    create_account(sb, {"name": "big", "provider": "cryptocloud", "api_key": "k", "count": COUNT, "seed": 1})
    generated = time.perf_counter() - started
    # generous: it takes about a second; an O(n^2) step or eager rendering would blow far past this
    assert generated < 15, f"generating {COUNT} invoices took {generated:.1f}s"

    transport = httpx.ASGITransport(app=create_app(sb))
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
            assert len(body["result"]) == 100
            assert body["all_count"] == COUNT
            return elapsed

        offsets = [(n * 7919) % (COUNT - 100) for n in range(40)]
        cold = [await page(offset) for offset in offsets]  # each record built and rendered on first use
        warm = [await page(offset) for offset in offsets]
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    print(f"\n100k account: generated in {generated:.2f}s; page median cold {cold_ms:.1f} ms, warm {warm_ms:.1f} ms")
    assert warm_ms < 50, f"median page {warm_ms:.1f} ms"
    assert cold_ms < 250, f"median first-time page {cold_ms:.1f} ms"
