"""A Redis that lost its data (a FLUSHALL, a restart without its append-only file), with real web and worker
processes over loopback: accounts that are only polled are polled again, re-created subscriptions get their
deliveries, the loss is logged and shows in /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_sync

from tests.e2e.conftest import account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack, sandbox_process
from tests.support.subscriber import subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_process() as running:
        yield running


def subscribe(relay: Relay, url: str) -> None:
    response = relay.http.post("/subscriptions", json={"url": url})
    assert response.status_code == 201, response.text


def new_invoice_delivered(sandbox: Sandbox, account: str, subscriber: Any, path: str) -> None:
    """A new invoice at the provider reaches the subscriber with nothing but the poll to carry it."""
    invoice = sandbox.new_invoice(account)
    invoice_id = str(invoice["id"])

    def delivered() -> bool:
        return any(invoice_id in r.body.decode() for r in subscriber.on(path))

    wait_until(delivered, timeout=20, interval=0.2, what=f"invoice {invoice_id} polled and delivered to {path}")


@pytest.mark.parametrize("loss", ["flushall", "restart_without_aof"])
def test_after_redis_lost_its_data_polling_and_delivery_resume_by_themselves(sandbox: Sandbox, loss: str) -> None:
    account = "lost-" + loss.replace("_", "-")
    create_sandbox_account(sandbox, account, "cryptocloud", count=3)
    toml = account_table(account, "cryptocloud", sandbox.url, poll_interval=1)
    redis = Valkey().start()
    try:
        with subscriber_server() as subscriber, relay_stack(redis.url, toml) as relay:
            subscribe(relay, subscriber.url("/before"))
            new_invoice_delivered(sandbox, account, subscriber, "/before")

            if loss == "flushall":
                redis_sync.Redis.from_url(redis.url).flushall()
            else:
                redis.stop()
                redis = Valkey(port=redis.port).start()
            # Subscriptions went with the data: the operator creates one again, as after any such loss.
            wait_until(lambda: relay.http.get("/readyz").status_code == 200, timeout=20, what="readyz 200")
            subscribe(relay, subscriber.url("/after"))
            new_invoice_delivered(sandbox, account, subscriber, "/after")

            (worker,) = relay.workers
            assert '"event": "redis_state_lost"' in worker.log()
            assert '"level": "error"' in worker.log()
            metrics = relay.http.get("/metrics").text
            lost_at = next(
                line for line in metrics.splitlines() if line.startswith("relay_redis_state_lost_timestamp_seconds ")
            )
            assert float(lost_at.split()[1]) > time.time() - 60
    finally:
        redis.stop()
