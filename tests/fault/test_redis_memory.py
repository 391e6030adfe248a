"""A Redis that fills up, or that would evict keys: real web and worker processes, a Valkey of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_sync

from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack, sandbox_process
from tests.support.subscriber import subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

NUDGE_HEADERS = {"authorization": f"Bearer {NUDGE}"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_process() as running:
        yield running


def test_a_full_redis_gets_503_then_everything_accepted_is_recorded_and_delivered(sandbox: Sandbox) -> None:
    create_sandbox_account(sandbox, "full", "smsonline", count=5)
    toml = account_table("full", "smsonline", sandbox.url)
    with Valkey() as redis, subscriber_server() as subscriber, relay_stack(redis.url, toml) as relay:
        assert relay.http.post("/subscriptions", json={"url": subscriber.url("/full")}).status_code == 201
        assert relay.http.post("/webhooks/full", headers=NUDGE_HEADERS).status_code == 202
        wait_until(lambda: len(subscriber.on("/full")) >= 5 or None, timeout=20, what="the first deliveries")

        control = redis_sync.Redis.from_url(redis.url)
        # Full: every write is refused. A limit of one byte, not "used memory less one": used memory moves (client
        # buffers are freed), and once it dipped below such a limit a write got through (seen in CI).
        control.config_set("maxmemory", 1)
        for _ in range(3):
            sandbox.new_invoice("full")
        refused = relay.http.post("/webhooks/full", headers=NUDGE_HEADERS)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        ready = relay.http.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "unavailable", "redis": "full"})
        metrics = relay.http.get("/metrics").text
        assert "relay_redis_memory_max_bytes" in metrics

        control.config_set("maxmemory", 0)  # memory frees: the provider's retry is accepted and carried out
        wait_until(lambda: relay.http.get("/readyz").status_code == 200 or None, timeout=10, what="ready")
        assert relay.http.post("/webhooks/full", headers=NUDGE_HEADERS).status_code == 202
        wait_until(lambda: len(relay.events(account="full")) == 8 or None, timeout=20, what="the new invoices")
        wait_until(lambda: len(subscriber.on("/full")) >= 8 or None, timeout=20, what="their deliveries")
        assert all(worker.alive() for worker in relay.workers), "the worker rode out the full Redis"


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_a_redis_that_may_evict_keys_is_refused_at_start(sandbox: Sandbox, policy: str) -> None:
    create_sandbox_account(sandbox, f"evict-{policy}", "smsonline", count=1)
    toml = account_table(f"evict-{policy}", "smsonline", sandbox.url)
    with Valkey() as redis:
        redis_sync.Redis.from_url(redis.url).config_set("maxmemory-policy", policy)
        relay = Relay(redis.url, toml)
        try:
            worker = relay.start_worker()
            wait_until(lambda: not worker.alive() or None, timeout=20, what="the worker to refuse and stop")
            assert f"maxmemory-policy {policy}" in worker.log()
            assert "Set maxmemory-policy noeviction" in worker.log()
        finally:
            relay.stop()
