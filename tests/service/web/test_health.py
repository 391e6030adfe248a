"""Health, readiness and metrics of the web process."""

from __future__ import annotations

import re

import httpx

from tests.service.conftest import NUDGE


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
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
