"""Health, readiness and metrics of the web process."""

from __future__ import annotations

import re
import time

import httpx
from redis.asyncio import Redis

from service.state.deliveries import FAILED, DeliveryStore, Outcome
from tests.service.conftest import NUDGE


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_metrics_count_callbacks_by_result_and_show_queue_depth(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    accepted = sample(before, "relay_callbacks_total", account="sms", result="accepted")
    refused = sample(before, "relay_callbacks_total", account="sms", result="unauthorized")
    await client.post("/webhooks/sms", headers={"authorization": f"Bearer {NUDGE}"})
    await client.post("/webhooks/sms", headers={"authorization": "Bearer nope"})
    await client.post("/webhooks/no-such-account")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "relay_callbacks_total", account="sms", result="accepted") == accepted + 1
    assert sample(text, "relay_callbacks_total", account="sms", result="unauthorized") == refused + 1
    assert sample(text, "relay_callbacks_total", account="_unknown", result="unknown_account") >= 1
    assert 'account="no-such-account"' not in text
    assert sample(text, "relay_queue_depth", queue="syncs_due") == 1
    assert "relay_delivery_latency_seconds_bucket" in text
    assert sample(text, "relay_redis_up") == 1


async def test_metrics_show_each_subscription_s_deliveries_and_the_queues(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    created = await client.post("/subscriptions", json={"url": "http://93.184.216.34/hooks"}, headers=admin)
    subscription_id = created.json()["id"]
    store = DeliveryStore(redis)
    now = int(time.time() * 1000)
    # Two deliveries made a minute ago: one failed for good, the other's attempt in flight past its lease.
    await store.fan_out([(subscription_id, "evt_1"), (subscription_id, "evt_2")], now - 60_000)
    await store.claim(subscription_id, now - 60_000, 25_000, 10)
    attempt = {"at": "2026-11-22T10:00:00Z", "status_code": 500, "error": "HTTP 500", "latency_ms": 3}
    await store.record(subscription_id, [Outcome("evt_1", FAILED, None, attempt)])

    text = (await client.get("/metrics")).text
    of_it = {"subscription_id": subscription_id}
    assert sample(text, "relay_subscription_deliveries_pending", **of_it) == 1
    assert 59 <= sample(text, "relay_subscription_oldest_pending_age_seconds", **of_it) < 120
    assert sample(text, "relay_subscription_delivery_attempts_total", result="failed", **of_it) == 1
    assert sample(text, "relay_subscription_delivery_attempts_total", result="delivered", **of_it) == 0
    assert sample(text, "relay_subscription_deliveries_dead_lettered_total", **of_it) == 1
    assert sample(text, "relay_queue_depth", queue="deliveries_queued") == 1
    assert sample(text, "relay_queue_depth", queue="deliveries_due") == 1
    assert sample(text, "relay_queue_depth", queue="sync_jobs_queued") == 0
    assert sample(text, "relay_queue_depth", queue="sync_hints") == 0

    await client.delete(f"/subscriptions/{subscription_id}", headers=admin)
    assert subscription_id not in (await client.get("/metrics")).text
