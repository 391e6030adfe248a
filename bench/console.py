"""Console: the events page (`GET /console/events`, signed in) with 100,000 events in the log.

The log is filled by this process through `EventLog.commit`, in batches (the sandbox would take minutes to raise
as many changes), then a relay web process started as the Procfile starts it serves the page over real HTTP on
loopback. One client, signed in as an operator, reads the page one request after another; the ceiling is
`/healthz` of the same process read the same way in the same run (routing, the middleware and the HTTP round
trip, no Redis). Also timed: the page filtered by account and type (half the log matches) and by one invoice (a
sparse filter: the page scans at most its budget of log entries, then offers an older page).

Full: 100,000 events, 300 requests per figure; quick: 100,000 events, 100 requests.

`python -m bench.console [--quick]`
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from redis.asyncio import Redis

from contracts.changes import detect_change
from contracts.model import Invoice, Status
from service.state.eventlog import EventLog, PendingChange
from tests.e2e.conftest import credentials
from tests.support.procs import Valkey
from tests.support.relay import ADMIN_TOKEN, Relay

ACCOUNT = "bench"
EVENTS = 100_000
BATCH = 500
#: The target for the page's p95.
TARGET_MS = 100.0


def _invoice(number: int) -> Invoice:
    return Invoice(
        account=ACCOUNT,
        provider="cryptocloud",
        invoice_id=f"INV-{number:08d}",
        status=Status.PAID if number % 2 else Status.PENDING,
        provider_status="paid" if number % 2 else "created",
        amount=Decimal("10.50"),
        amount_paid=None,
        currency="USD",
        description=f"Order {number}",
        # A provider record of about the size real ones have (~1 KB).
        raw={"uuid": f"INV-{number:08d}", "order_id": f"order-{number}", "padding": "x" * 900},
    )


async def fill(url: str, events: int) -> float:
    """Log `events` first-sight events of invoices 0..events-1; the seconds it took."""
    redis = Redis.from_url(url)
    log = EventLog(redis)
    started = time.perf_counter()
    try:
        for start in range(0, events, BATCH):
            changes = []
            for number in range(start, min(start + BATCH, events)):
                invoice = _invoice(number)
                change = detect_change(None, invoice, observed_at=datetime.now(UTC))
                assert change is not None
                changes.append(PendingChange(invoice.invoice_id, "", change))
            await log.commit(ACCOUNT, changes)
    finally:
        await redis.aclose()
    return time.perf_counter() - started


def signed_in(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30)
    form = client.get("/console/sign-in").raise_for_status()
    found = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert found is not None
    answer = client.post("/console/sign-in", data={"csrf": found.group(1), "token": ADMIN_TOKEN})
    assert answer.status_code == 303, answer.text
    return client


def timed(client: httpx.Client, path: str, requests: int, expect: str) -> dict[str, float]:
    """p50 and p95 of `requests` sequential GETs (after a few unmeasured ones), in ms."""
    for _ in range(5):
        assert expect in client.get(path).raise_for_status().text
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1], 2),
    }


def run(quick: bool = False) -> dict[str, object]:
    requests = 100 if quick else 300
    account = [f"[accounts.{ACCOUNT}]", 'provider = "cryptocloud"', 'base_url = "http://127.0.0.1:9"']
    account += [f'{key} = "{value}"' for key, value in credentials("cryptocloud", ACCOUNT).items()]
    with Valkey() as redis:
        fill_s = asyncio.run(fill(redis.url, EVENTS))
        relay = Relay(redis.url, "\n".join(account) + "\n", env={"RELAY_LOG_LEVEL": "WARNING"})
        try:
            relay.start_web()
            client = signed_in(relay.url)
            try:
                page = timed(client, "/console/events", requests, 'id="events"')
                filtered = timed(client, f"/console/events?account={ACCOUNT}&type=invoice.paid", requests, "evt_")
                one_invoice = timed(client, "/console/events?invoice=INV-00000007", requests, 'id="events"')
                ceiling = timed(client, "/healthz", requests, "")
            finally:
                client.close()
        finally:
            relay.stop()
    return {
        "events": EVENTS,
        "fill_s": round(fill_s, 1),
        "requests": requests,
        "events_page_ms": page,
        "events_page_filtered_ms": filtered,
        "events_page_one_invoice_ms": one_invoice,
        "ceiling_ms": ceiling,
        "target_p95_ms": TARGET_MS,
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
