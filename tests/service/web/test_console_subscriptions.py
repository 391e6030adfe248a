"""The console's subscription pages and actions, in process against a real Valkey: each goes through the same
rules as the JSON API (checked here through that API)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from service.state.deliveries import DELIVERED, FAILED, DeliveryStore, Outcome
from tests.service.conftest import make_settings
from tests.service.support import log_events
from tests.service.web.console_support import console_client, csrf, sign_in

PUBLIC_URL = "http://93.184.216.34/hooks/invoices"
SECRET = re.compile(r'<code id="new-secret">(whsec_[^<]+)</code>')


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(make_settings(redis_url)) as (http, _):
        await sign_in(http)
        yield http


async def api_view(client: httpx.AsyncClient, admin: dict[str, str], subscription_id: str) -> dict[str, Any]:
    response = await client.get(f"/subscriptions/{subscription_id}", headers=admin)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def create(client: httpx.AsyncClient, **fields: str) -> tuple[str, str]:
    form = {
        "url": PUBLIC_URL,
        "event_types": "",
        "accounts": "",
        "description": "",
        "rate_limit": "",
        "ordering": "none",
    }
    page = await client.post("/console/subscriptions", data={**form, **fields, "csrf": await csrf(client)})
    assert page.status_code == 200, page.text
    secret = SECRET.search(page.text)
    assert secret is not None
    found = re.search(r'href="/console/subscriptions/(sub_[0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1), secret.group(1)


async def post(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    return await client.post(path, data={**fields, "csrf": await csrf(client)})


async def test_create_shows_the_secret_once_with_a_copy_button(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    new = await client.get("/console/subscriptions/new")
    assert 'id="create-subscription"' in new.text
    subscription_id, secret = await create(
        client, event_types="invoice.paid, invoice.created", accounts="shop", description="Books", rate_limit="5"
    )
    assert await api_view(client, admin, subscription_id) == await api_view(client, admin, subscription_id) | {
        "url": PUBLIC_URL,
        "event_types": ["invoice.paid", "invoice.created"],
        "accounts": ["shop"],
        "description": "Books",
        "rate_limit": 5,
        "ordering": "none",
        "enabled": True,
    }
    for path in ("/console", "/console/subscriptions", f"/console/subscriptions/{subscription_id}"):
        assert secret not in (await client.get(path)).text, path
    listed = (await client.get("/console/subscriptions")).text
    assert f'<tr data-subscription-id="{subscription_id}">' in listed


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"url": "http://127.0.0.1/hooks"}, "loopback"),
        ({"event_types": "invoice.nope"}, "unknown event type"),
        ({"accounts": "nobody"}, "unknown account"),
        ({"rate_limit": "fast"}, "rate_limit must be"),
        ({"ordering": "random"}, "ordering must be"),
    ],
)
async def test_a_refused_form_comes_back_with_the_apis_reason(
    client: httpx.AsyncClient, admin: dict[str, str], fields: dict[str, str], error: str
) -> None:
    page = await post(client, "/console/subscriptions", **{"url": PUBLIC_URL, **fields})
    assert page.status_code == 400
    assert 'id="form-error"' in page.text
    assert error in page.text
    assert 'id="create-subscription"' in page.text
    assert (await client.get("/subscriptions", headers=admin)).json()["subscriptions"] == []


async def test_edit_disable_enable_and_their_flash(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    subscription_id, _ = await create(client)
    page_path = f"/console/subscriptions/{subscription_id}"
    edited = await post(
        client, f"{page_path}/edit", url="http://93.184.216.34/v2", event_types="invoice.paid", accounts="sp, shop",
        description="New words",
    )  # fmt: skip
    assert (edited.status_code, edited.headers["location"]) == (303, page_path)
    view = await api_view(client, admin, subscription_id)
    assert (view["url"], view["event_types"], view["accounts"], view["description"]) == (
        "http://93.184.216.34/v2", ["invoice.paid"], ["sp", "shop"], "New words",
    )  # fmt: skip
    page = (await client.get(page_path)).text
    assert 'id="flash" class="flash ok"' in page
    assert "Subscription saved." in page
    assert '<dd id="subscription-url">http://93.184.216.34/v2</dd>' in page

    refused = await post(
        client, f"{page_path}/edit", url="http://10.0.0.1/x", event_types="", accounts="", description=""
    )
    assert refused.status_code == 303
    assert 'class="flash error"' in (await client.get(page_path)).text
    assert (await api_view(client, admin, subscription_id))["url"] == "http://93.184.216.34/v2"

    await log_events(redis, "shop", 1)
    event_id = (await client.get("/events", headers=admin)).json()["events"][0]["id"]
    await DeliveryStore(redis).fan_out([(subscription_id, event_id)], 1)
    assert (await post(client, f"{page_path}/disable")).status_code == 303
    assert (await api_view(client, admin, subscription_id))["enabled"] is False
    page = (await client.get(page_path)).text
    assert '<dd id="subscription-enabled">disabled</dd>' in page
    # As through the API: disabling fails what was queued.
    assert (await client.get(f"/subscriptions/{subscription_id}/deliveries", headers=admin)).json()["deliveries"][0][
        "status"
    ] == FAILED
    assert f'action="{page_path}/enable"' in page
    assert (await post(client, f"{page_path}/enable")).status_code == 303
    assert '<dd id="subscription-enabled">enabled</dd>' in (await client.get(page_path)).text


async def test_rotate_shows_the_new_secret_once(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    subscription_id, first = await create(client)
    page = await post(client, f"/console/subscriptions/{subscription_id}/rotate-secret")
    assert page.status_code == 200
    secret = SECRET.search(page.text)
    assert secret is not None
    assert secret.group(1) != first
    assert secret.group(1) not in (await client.get(f"/console/subscriptions/{subscription_id}")).text


async def test_delete_asks_first_then_deletes(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    subscription_id, _ = await create(client)
    confirm = await client.get(f"/console/subscriptions/{subscription_id}/delete")
    assert 'id="confirm-delete"' in confirm.text
    assert (await client.get(f"/subscriptions/{subscription_id}", headers=admin)).status_code == 200
    deleted = await post(client, f"/console/subscriptions/{subscription_id}/delete")
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/console/subscriptions")
    assert f"Subscription {subscription_id} deleted." in (await client.get("/console/subscriptions")).text
    assert (await client.get(f"/subscriptions/{subscription_id}", headers=admin)).status_code == 404


async def test_deliveries_with_attempts_replay_and_recover(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    subscription_id, _ = await create(client)
    await log_events(redis, "shop", 3)
    event_ids = [e["id"] for e in (await client.get("/events", headers=admin)).json()["events"]]
    store = DeliveryStore(redis)
    await store.fan_out([(subscription_id, e) for e in event_ids], 1)
    attempt = {"at": "2026-11-22T10:00:00Z", "status_code": 500, "error": "HTTP 500", "latency_ms": 7}
    await store.record(subscription_id, [Outcome(event_ids[0], FAILED, None, attempt, subscriber_ok=False)])
    ok = {**attempt, "status_code": 200, "error": None}
    await store.record(subscription_id, [Outcome(event_ids[1], DELIVERED, None, ok, subscriber_ok=True)])
    page_path = f"/console/subscriptions/{subscription_id}"
    page = (await client.get(page_path)).text
    deliveries = page[page.index('id="deliveries"') :]
    assert sorted(re.findall(r'class="delivery" data-event-id="([^"]+)"', deliveries)) == sorted(event_ids)
    assert deliveries.count('<tr class="attempt">') == 2
    failed_only = (await client.get(page_path, params={"status": "failed"})).text
    assert re.findall(r'class="delivery" data-event-id="([^"]+)"', failed_only) == [event_ids[0]]

    replayed = await post(client, f"{page_path}/replay", event_ids=f"{event_ids[1]}, evt_missing")
    assert (replayed.status_code, replayed.headers["location"]) == (303, page_path)
    assert "Queued 1 delivery again; not in the log: evt_missing." in (await client.get(page_path)).text
    recovered = await post(client, f"{page_path}/recover", since="2000-01-01T00:00:00Z")
    assert recovered.status_code == 303
    assert "Queued 1 delivery again." in (await client.get(page_path)).text
    rows = (await client.get(f"/subscriptions/{subscription_id}/deliveries", headers=admin)).json()["deliveries"]
    assert {row["event_id"]: row["status"] for row in rows} == dict.fromkeys(event_ids, "pending")

    neither = await post(client, f"{page_path}/replay")
    assert neither.status_code == 303
    assert "give exactly one of" in (await client.get(page_path)).text
    await post(client, f"{page_path}/disable")
    await post(client, f"{page_path}/replay", since="2000-01-01T00:00:00Z")
    assert "enable the subscription before replaying to it" in (await client.get(page_path)).text
