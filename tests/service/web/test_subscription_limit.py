"""The documented maximum number of subscriptions: refused beyond it with a clear error, never overshot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from service.state.subscriptions import MAX_SUBSCRIPTIONS, SubscriptionStore, new_subscription
from service.web import subscription_actions

# An address literal: the SSRF check resolves names, and this machine has no DNS.
BODY = {"url": "http://93.184.216.34/hooks/invoices"}


def test_the_maximum_is_the_one_documented() -> None:
    assert MAX_SUBSCRIPTIONS == 1000


async def test_a_subscription_past_the_maximum_is_refused_with_a_clear_error(
    client: httpx.AsyncClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscription_actions, "MAX_SUBSCRIPTIONS", 2)
    for _ in range(2):
        assert (await client.post("/subscriptions", json=BODY, headers=admin)).status_code == 201
    refused = await client.post("/subscriptions", json=BODY, headers=admin)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "too_many_subscriptions",
        "detail": "the relay holds at most 2 subscriptions; delete one first",
    }
    assert len((await client.get("/subscriptions", headers=admin)).json()["subscriptions"]) == 2
    first = (await client.get("/subscriptions", headers=admin)).json()["subscriptions"][0]["id"]
    assert (await client.delete(f"/subscriptions/{first}", headers=admin)).status_code == 204
    assert (await client.post("/subscriptions", json=BODY, headers=admin)).status_code == 201


async def test_concurrent_creates_never_overshoot_the_limit(redis: Redis) -> None:
    store = SubscriptionStore(redis)

    async def create() -> bool:
        made = new_subscription(
            url="https://example.com/hook", event_types=("*",), accounts=("*",), description=None, now=datetime.now(UTC)
        )
        return await store.save(made, limit=5)

    results = await asyncio.gather(*(create() for _ in range(20)))
    assert results.count(True) == 5
    assert len(await store.all()) == 5
