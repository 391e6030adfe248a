"""The sync guarantees end to end: baseline, coalescing, a trigger during a sync, a worker killed mid-sync."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import aiohttp
import jwt
import pytest

from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account, credentials
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def nudge(relay: Relay, account: str) -> None:
    response = relay.http.post(f"/webhooks/{account}", headers={"authorization": f"Bearer {NUDGE}"})
    assert response.status_code == 202, response.text


@pytest.fixture(scope="module")
def relay(sandbox: Sandbox) -> Iterator[Relay]:
    """One relay for the tests that need no settings of their own, each on an account of its own (`base`,
    `burst`, `during`). A Redis of its own: the relay outlives one test, and the function-scoped database is
    flushed for each."""
    create_sandbox_account(sandbox, "base", "smsonline", count=10)
    create_sandbox_account(sandbox, "burst", "cryptocloud", count=50)
    create_sandbox_account(sandbox, "during", "smsonline", count=5)
    toml = "\n".join(
        [
            account_table("base", "smsonline", sandbox.url, initial_sync="baseline"),
            account_table("burst", "cryptocloud", sandbox.url),
            account_table("during", "smsonline", sandbox.url),
        ]
    )
    with Valkey() as redis, relay_stack(redis.url, toml) as running:
        yield running


def test_baseline_records_silently_then_reports_changes(sandbox: Sandbox, relay: Relay) -> None:
    nudge(relay, "base")
    first = relay.wait_synced("base")
    assert first["last_sync_status"] == "ok"
    assert first["invoices"] == 10
    assert relay.events(account="base") == []

    target = next(i for i in sandbox.invoices("base") if i["status"] not in ("paid", "cancel"))
    sandbox.act("base", target["id"], "cancel")
    created = sandbox.new_invoice("base")
    nudge(relay, "base")
    events = wait_until(lambda: relay.events(account="base") or None, what="events after the baseline")
    wait_until(lambda: len(relay.events(account="base")) >= 2 or None, what="two events")
    events = relay.events(account="base")
    by_id = {e["data"]["invoice"]["invoice_id"]: e for e in events}
    assert by_id[target["id"]]["type"] == "invoice.canceled"
    assert by_id[target["id"]]["data"]["sequence"] == 2
    assert by_id[target["id"]]["data"]["previous_status"] is not None
    new_id = str(created.get("id") if isinstance(created, dict) else created)
    assert by_id[new_id]["type"] == "invoice.created"
    assert by_id[new_id]["data"]["sequence"] == 1
    assert len(events) == 2


def test_a_burst_of_callbacks_coalesces_into_a_few_syncs(sandbox: Sandbox, relay: Relay) -> None:
    secret = credentials("cryptocloud", "burst")["secret_key"]
    token = jwt.encode({"id": "INV-AAAAAAAA", "exp": int(time.time()) + 300}, secret, algorithm="HS256")
    before = sandbox.stats("burst")["list_requests"]

    async def burst() -> Counter[int]:
        statuses: Counter[int] = Counter()
        body = {"invoice_id": "AAAAAAAA", "token": token}
        async with aiohttp.ClientSession() as client:
            semaphore = asyncio.Semaphore(32)

            async def one() -> None:
                async with semaphore, client.post(f"{relay.url}/webhooks/burst", json=body) as response:
                    statuses[response.status] += 1

            await asyncio.gather(*(one() for _ in range(1000)))
        return statuses

    started = time.monotonic()
    statuses = asyncio.run(burst())
    elapsed = time.monotonic() - started
    assert statuses == Counter({202: 1000})
    wait_until(lambda: len(relay.events(account="burst")) == 50 or None, what="the account's events")
    # Let the last queued sync finish before counting.
    wait_until(lambda: relay.accounts()["burst"]["last_sync_status"] == "ok" or None, what="a finished sync")
    syncs = sandbox.stats("burst")["list_requests"] - before
    print(f"1000 callbacks in {elapsed:.2f}s caused {syncs} syncs")
    # Syncs run back to back while callbacks keep coming: their number follows the burst's duration
    # and the sync's, never the number of callbacks.
    assert 1 <= syncs <= 100
    assert len(relay.events(account="burst")) == 50


def test_a_trigger_during_a_sync_causes_another_sync(sandbox: Sandbox, relay: Relay) -> None:
    nudge(relay, "during")
    relay.wait_synced("during")
    assert len(relay.events(account="during")) == 5

    sandbox.fault("during", kind="slow", delay=1.5, count=1)
    requests_before = sandbox.stats("during")["list_requests"]
    last = relay.accounts()["during"]["last_sync_at"]
    nudge(relay, "during")
    wait_until(lambda: sandbox.stats("during")["list_requests"] > requests_before or None, what="the slow sync")
    # The slow sync has read its listing; this invoice is not in it.
    created = sandbox.new_invoice("during")
    nudge(relay, "during")
    assert relay.accounts()["during"]["last_sync_at"] == last, "the trigger must land during the sync"
    wait_until(lambda: len(relay.events(account="during")) == 6 or None, timeout=15, what="the new invoice's event")
    new_id = str(created["id"])
    assert [e["type"] for e in relay.events(account="during") if e["data"]["invoice"]["invoice_id"] == new_id] == [
        "invoice.created"
    ]
    assert sandbox.stats("during")["list_requests"] >= requests_before + 2


def test_a_worker_killed_mid_sync_loses_nothing_and_duplicates_nothing(sandbox: Sandbox, redis_url: str) -> None:
    create_sandbox_account(sandbox, "kill", "cryptocloud", count=3000)
    # Slow pages make the sync take seconds, so the kill lands in the middle of it.
    sandbox.fault("kill", kind="slow", delay=0.08, rate=1.0)
    toml = account_table("kill", "cryptocloud", sandbox.url)
    with relay_stack(redis_url, toml, env={"RELAY_SYNC_LEASE": "2"}) as relay:
        relay.trigger("kill")
        wait_until(lambda: len(relay.events(account="kill")) >= 300 or None, timeout=20, what="a sync under way")
        victim = relay.workers[0]
        victim.kill()
        logged_at_kill = len(relay.events(account="kill"))
        assert logged_at_kill < 3000, "the kill must land mid-sync"
        relay.start_worker()
        sandbox.call("DELETE", "/_sandbox/accounts/kill/faults")
        wait_until(lambda: len(relay.events(account="kill")) >= 3000 or None, timeout=40, what="all 3000 events")
        wait_until(lambda: relay.accounts()["kill"]["last_sync_status"] == "ok" or None, what="a finished sync")
        events = relay.events(account="kill")
        assert len(events) == 3000
        assert len({e["id"] for e in events}) == 3000
        assert len({e["data"]["invoice"]["invoice_id"] for e in events}) == 3000
        assert {e["data"]["sequence"] for e in events} == {1}


def test_scheduled_polling_runs_once_per_interval_across_workers(sandbox: Sandbox, redis_url: str) -> None:
    create_sandbox_account(sandbox, "poll", "smsonline", count=3)
    toml = account_table("poll", "smsonline", sandbox.url, poll_interval=1)
    with relay_stack(redis_url, toml, workers=3) as relay:
        # No trigger at all: the schedule alone syncs the account, at start-up and every second after.
        relay.wait_synced("poll", timeout=20)
        assert len(relay.events(account="poll")) == 3
        start = sandbox.stats("poll")["list_requests"]
        began = time.monotonic()
        created = sandbox.new_invoice("poll")
        wait_until(lambda: len(relay.events(account="poll")) == 4 or None, timeout=10, what="a polled change")
        assert relay.events(account="poll")[-1]["data"]["invoice"]["invoice_id"] == str(created["id"])
        wait_until(lambda: time.monotonic() - began > 3, timeout=10, what="three intervals")
        polls = sandbox.stats("poll")["list_requests"] - start
        elapsed = time.monotonic() - began
        # Three workers, one account, 1 s interval: about one poll a second in all, not three.
        assert 2 <= polls <= elapsed + 2, (polls, elapsed)
