"""`/subscriptions` in process, against a real Valkey: CRUD, SSRF refusals, rotation, deliveries, replay."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from contracts.standard_webhooks import secret_key
from contracts.times import format_time, parse_time
from service.state.deliveries import DELIVERED, DeliveryStore, Outcome
from service.state.keys import SUBSCRIPTIONS, SUBSCRIPTIONS_VERSION, delivery_order, delivery_queue, delivery_records
from service.state.subscriptions import ROTATION_OVERLAP, SubscriptionStore
from tests.service.conftest import app_client, make_settings
from tests.service.support import log_events, log_history

PUBLIC_URL = "http://93.184.216.34/hooks/invoices"
PUBLIC_FIELDS = {
    "id", "url", "event_types", "accounts", "enabled", "created_at", "description", "rate_limit", "ordering"
}  # fmt: skip
UNAUTHORIZED = {"error": "unauthorized"}
UNKNOWN_SUBSCRIPTION = {"error": "unknown_subscription"}
NOT_AN_OBJECT = {"error": "invalid_subscription", "detail": "the body must be a JSON object"}
PRIVATE_TARGET = "url resolves to a loopback, private, link-local or reserved address (RELAY_ALLOW_PRIVATE_URLS=true allows such URLs)"


async def logged(client: httpx.AsyncClient, admin: dict[str, str], **params: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = (await client.get("/events", params=params, headers=admin)).json()["events"]
    return events


async def create(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/subscriptions", json={"url": PUBLIC_URL, **body}, headers=admin)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def delivery_rows(
    client: httpx.AsyncClient, admin: dict[str, str], sub_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    params = {} if status is None else {"status": status}
    response = await client.get(f"/subscriptions/{sub_id}/deliveries", params=params, headers=admin)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["deliveries"]
    return rows


#: How the store stamps an attempt of a delivery made by the fan-out (not a replay or recover).
SCHEDULED = {"trigger": "scheduled"}


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def private_client(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An app with `RELAY_ALLOW_PRIVATE_URLS=true`."""
    http, deps = await app_client(dataclasses.replace(make_settings(redis_url), allow_private_urls=True))
    yield http
    await http.aclose()
    await deps.close()


# --- authentication -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/subscriptions"),
    ("GET", "/subscriptions"),
    ("GET", "/subscriptions/{id}"),
    ("PATCH", "/subscriptions/{id}"),
    ("DELETE", "/subscriptions/{id}"),
    ("POST", "/subscriptions/{id}/rotate-secret"),
    ("GET", "/subscriptions/{id}/deliveries"),
    ("POST", "/subscriptions/{id}/replay"),
])  # fmt: skip
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic admin-token-for-tests", "Bearer"])
async def test_every_route_needs_the_token(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, method: str, path: str, authorization: str | None
) -> None:
    sub = await create(client, admin)
    before = await redis.hgetall(SUBSCRIPTIONS), await redis.get(SUBSCRIPTIONS_VERSION)
    headers = {"authorization": authorization} if authorization else {}
    body = {"url": PUBLIC_URL, "enabled": False, "since": "2020-01-01T00:00:00Z"}
    response = await client.request(method, path.format(id=sub["id"]), json=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"
    assert "secret" not in response.text
    assert (await redis.hgetall(SUBSCRIPTIONS), await redis.get(SUBSCRIPTIONS_VERSION)) == before  # nothing changed


async def test_no_admin_token_configured_refuses_everything(redis_url: str, admin: dict[str, str]) -> None:
    http, deps = await app_client(dataclasses.replace(make_settings(redis_url), admin_token=None))
    try:
        for response in (
            await http.get("/subscriptions", headers=admin),
            await http.post("/subscriptions", json={"url": PUBLIC_URL}, headers=admin),
        ):
            assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    finally:
        await http.aclose()
        await deps.close()


# --- create, get, list ----------------------------------------------------------------------------------


async def test_create_returns_the_subscription_and_its_secret(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    before = datetime.now(UTC)
    response = await client.post("/subscriptions", json={"url": PUBLIC_URL}, headers=admin)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PUBLIC_FIELDS | {"secret"}
    assert body["id"].startswith("sub_")
    assert body["url"] == PUBLIC_URL
    assert body["event_types"] == ["*"]
    assert body["accounts"] == ["*"]
    assert body["enabled"] is True
    assert body["description"] is None
    assert body["rate_limit"] is None
    assert body["ordering"] == "none"
    created = parse_time(body["created_at"])
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["created_at"].endswith("Z")
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"), validate=True)) == 32


async def test_create_keeps_filters_and_description(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = await create(
        client,
        admin,
        event_types=["invoice.paid", "invoice.canceled", "invoice.paid"],
        accounts=["shop", "sp"],
        description="billing system",
    )
    assert body["event_types"] == ["invoice.paid", "invoice.canceled"]
    assert body["accounts"] == ["shop", "sp"]
    assert body["description"] == "billing system"
    fetched = (await client.get(f"/subscriptions/{body['id']}", headers=admin)).json()
    assert fetched == {k: v for k, v in body.items() if k != "secret"}

    wildcard = await create(client, admin, event_types=["invoice.*"], accounts=["*"])
    assert wildcard["event_types"] == ["invoice.*"]
    assert wildcard["accounts"] == ["*"]


async def test_two_subscriptions_get_different_ids_and_secrets(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    one, two = await create(client, admin), await create(client, admin)
    assert one["id"] != two["id"]
    assert one["secret"] != two["secret"]


async def test_get_and_list_never_show_secrets(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    first = await create(client, admin, description="first")
    second = await create(client, admin, description="second")
    await client.post(f"/subscriptions/{first['id']}/rotate-secret", headers=admin)

    one = await client.get(f"/subscriptions/{first['id']}", headers=admin)
    assert one.status_code == 200
    assert set(one.json()) == PUBLIC_FIELDS
    assert "whsec_" not in one.text

    listing = await client.get("/subscriptions", headers=admin)
    assert listing.status_code == 200
    rows = listing.json()["subscriptions"]
    assert [row["id"] for row in rows] == [first["id"], second["id"]]  # oldest first
    assert all(set(row) == PUBLIC_FIELDS for row in rows)
    assert "whsec_" not in listing.text
    assert "secret" not in listing.text


async def test_empty_list(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await client.get("/subscriptions", headers=admin)).json() == {"subscriptions": []}


async def test_unknown_subscription_is_404_everywhere(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    path = "/subscriptions/sub_missing"
    for response in (
        await client.get(path, headers=admin),
        await client.patch(path, json={"enabled": False}, headers=admin),
        await client.delete(path, headers=admin),
        await client.post(f"{path}/rotate-secret", headers=admin),
        await client.get(f"{path}/deliveries", headers=admin),
        await client.post(f"{path}/replay", json={"since": "2020-01-01T00:00:00Z"}, headers=admin),
    ):
        assert (response.status_code, response.json()) == (404, UNKNOWN_SUBSCRIPTION), response.request.url


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": None},
        {"url": 42},
        {"url": ""},
        {"url": "ftp://93.184.216.34/"},
        {"url": "93.184.216.34/hook"},
        {"url": "http://user:pass@93.184.216.34/"},
        {"url": "http://user@93.184.216.34/"},
        {"url": "http://[::1/"},
        {"url": "http://93.184.216.34:99999/"},
        {"url": "http://93.184.216.34/" + "a" * 2100},
        {"url": PUBLIC_URL, "event_types": ["invoice.nope"]},
        {"url": PUBLIC_URL, "event_types": ["invoice.paid", "payment.paid"]},
        {"url": PUBLIC_URL, "event_types": "invoice.paid"},
        {"url": PUBLIC_URL, "event_types": {"invoice.paid": True}},
        {"url": PUBLIC_URL, "event_types": []},
        {"url": PUBLIC_URL, "event_types": [["invoice.paid"]]},
        {"url": PUBLIC_URL, "event_types": [{"type": "invoice.paid"}]},
        {"url": PUBLIC_URL, "event_types": [None]},
        {"url": PUBLIC_URL, "event_types": ["invoice.paid"] * 101},
        {"url": PUBLIC_URL, "accounts": ["nobody"]},
        {"url": PUBLIC_URL, "accounts": "shop"},
        {"url": PUBLIC_URL, "accounts": []},
        {"url": PUBLIC_URL, "accounts": [["shop"]]},
        {"url": PUBLIC_URL, "accounts": [{"name": "shop"}]},
        {"url": PUBLIC_URL, "description": 5},
        {"url": PUBLIC_URL, "description": "x" * 1001},
        {"url": PUBLIC_URL, "rate_limit": 0},
        {"url": PUBLIC_URL, "rate_limit": 10_001},
        {"url": PUBLIC_URL, "rate_limit": 1.5},
        {"url": PUBLIC_URL, "rate_limit": "50"},
        {"url": PUBLIC_URL, "rate_limit": True},
        {"url": PUBLIC_URL, "ordering": "sequence"},
        {"url": PUBLIC_URL, "ordering": None},
        {"url": PUBLIC_URL, "ordering": ["invoice"]},
        {"url": PUBLIC_URL, "secret": "whsec_mine"},
        {"url": PUBLIC_URL, "enabled": False},
        {"url": PUBLIC_URL, "id": "sub_chosen"},
    ],
)
async def test_create_refuses_bad_bodies(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, body: dict[str, Any]
) -> None:
    response = await client.post("/subscriptions", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_subscription"
    # The detail names the field at fault: the one beside `url` when there is one, else `url`.
    assert next((name for name in body if name != "url"), "url") in response.json()["detail"]
    assert (await client.get("/subscriptions", headers=admin)).json() == {"subscriptions": []}


async def test_create_keeps_rate_limit_and_ordering(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin, rate_limit=50, ordering="invoice")
    assert (sub["rate_limit"], sub["ordering"]) == (50, "invoice")
    shown = (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).json()
    assert (shown["rate_limit"], shown["ordering"]) == (50, "invoice")
    [listed] = (await client.get("/subscriptions", headers=admin)).json()["subscriptions"]
    assert (listed["rate_limit"], listed["ordering"]) == (50, "invoice")


async def test_a_subscription_stored_before_the_controls_reads_as_unlimited_and_unordered(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    document = orjson.loads(await redis.hget(SUBSCRIPTIONS, sub["id"]))
    del document["rate_limit"], document["ordering"]
    await redis.hset(SUBSCRIPTIONS, sub["id"], orjson.dumps(document))
    shown = (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).json()
    assert (shown["rate_limit"], shown["ordering"]) == (None, "none")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe{",
        b'{"url": "http://93.184.216.34/"',
        b"[]",
        b'["http://93.184.216.34/"]',
        b'"x"',
        b"1",
        b"null",
    ],
)
async def test_create_refuses_non_json_and_non_objects(
    client: httpx.AsyncClient, admin: dict[str, str], content: bytes
) -> None:
    response = await client.post(
        "/subscriptions", content=content, headers={**admin, "content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (400, NOT_AN_OBJECT)
    assert (await client.get("/subscriptions", headers=admin)).json() == {"subscriptions": []}


# --- SSRF -----------------------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://localhost:8080/",
    "http://224.0.0.1/",
    "https://100.64.0.1/",
    "http://[fd00::1]/",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_targets_are_refused(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> None:
    response = await client.post("/subscriptions", json={"url": url}, headers=admin)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_subscription", "detail": PRIVATE_TARGET}
    assert (await client.get("/subscriptions", headers=admin)).json() == {"subscriptions": []}


@pytest.mark.parametrize("url", ["http://93.184.216.34/", "https://[2606:4700:4700::1111]:8443/in"])
async def test_public_targets_are_accepted(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> None:
    assert (await create(client, admin, url=url))["url"] == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://localhost:8080/hook", "http://10.0.0.1/"])
async def test_private_targets_are_accepted_when_allowed(
    private_client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    response = await private_client.post("/subscriptions", json={"url": url}, headers=admin)
    assert response.status_code == 201
    assert response.json()["url"] == url


async def test_allowing_private_targets_still_checks_syntax(
    private_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url, reason in (
        ("ftp://127.0.0.1/", "url must use http or https"),
        ("http://u:p@127.0.0.1/", "url must not carry credentials"),
        ("file:///etc/passwd", "url must use http or https"),
    ):
        response = await private_client.post("/subscriptions", json={"url": url}, headers=admin)
        assert response.status_code == 400, url
        assert response.json() == {"error": "invalid_subscription", "detail": reason}


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://169.254.169.254/", "http://0x7f000001/", "ftp://x/"])
async def test_patch_to_a_private_url_is_refused(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> None:
    sub = await create(client, admin)
    response = await client.patch(f"/subscriptions/{sub['id']}", json={"url": url}, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_subscription"
    assert response.json()["detail"].startswith("url "), response.text
    if not url.startswith("ftp:"):
        assert response.json()["detail"] == PRIVATE_TARGET
    assert (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).json()["url"] == PUBLIC_URL


async def test_patch_to_a_private_url_is_accepted_when_allowed(
    private_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = await create(private_client, admin)
    response = await private_client.patch(
        f"/subscriptions/{sub['id']}", json={"url": "http://127.0.0.1:9/"}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["url"] == "http://127.0.0.1:9/"


# --- patch ----------------------------------------------------------------------------------------------


async def test_patch_changes_and_returns_every_field(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin, description="before")
    changes = {
        "url": "https://93.184.216.34/v2",
        "event_types": ["invoice.refunded"],
        "accounts": ["sms", "isp"],
        "enabled": False,
        "description": "after",
        "rate_limit": 50,
        "ordering": "invoice",
    }
    response = await client.patch(f"/subscriptions/{sub['id']}", json=changes, headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert body == {**{k: v for k, v in sub.items() if k != "secret"}, **changes}
    assert (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).json() == body

    # One field at a time leaves the others alone; null filters mean "all" again.
    again = await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": True}, headers=admin)
    assert again.json() == {**body, "enabled": True}
    reset = await client.patch(
        f"/subscriptions/{sub['id']}",
        json={"event_types": None, "description": None, "rate_limit": None, "ordering": "none"},
        headers=admin,
    )
    assert reset.json() == {
        **body, "enabled": True, "event_types": ["*"], "description": None, "rate_limit": None, "ordering": "none"
    }  # fmt: skip


async def test_patch_keeps_the_secret(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis) -> None:
    sub = await create(client, admin)
    await client.patch(f"/subscriptions/{sub['id']}", json={"description": "x"}, headers=admin)
    stored = await SubscriptionStore(redis).get(sub["id"])
    assert stored is not None
    assert [s.secret for s in stored.secrets] == [sub["secret"]]


@pytest.mark.parametrize(
    "body",
    [
        {"secret": "whsec_x"},
        {"id": "sub_other"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"enabled": "false"},
        {"enabled": 0},
        {"enabled": None},
        {"event_types": ["invoice.nope"]},
        {"event_types": []},
        {"accounts": ["nobody"]},
        {"accounts": "shop"},
        {"description": ["x"]},
        {"url": None},
        {"rate_limit": -1},
        {"rate_limit": 20_000},
        {"rate_limit": "fast"},
        {"ordering": "strict"},
    ],
)
async def test_patch_refuses_bad_bodies(client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]) -> None:
    sub = await create(client, admin)
    response = await client.patch(f"/subscriptions/{sub['id']}", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_subscription"
    [field] = body
    assert field in response.json()["detail"]
    unchanged = (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).json()
    assert unchanged == {k: v for k, v in sub.items() if k != "secret"}


@pytest.mark.parametrize("content", [b"{oops", b"[]", b"true"])
async def test_patch_refuses_non_objects(client: httpx.AsyncClient, admin: dict[str, str], content: bytes) -> None:
    sub = await create(client, admin)
    response = await client.patch(f"/subscriptions/{sub['id']}", content=content, headers=admin)
    assert (response.status_code, response.json()) == (400, NOT_AN_OBJECT)


async def test_disabling_fails_queued_deliveries(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    store = DeliveryStore(redis)
    await store.fan_out([(sub["id"], "evt_a"), (sub["id"], "evt_b")], now_ms())
    assert {r["event_id"] for r in await delivery_rows(client, admin, sub["id"], "pending")} == {"evt_a", "evt_b"}

    response = await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": False}, headers=admin)
    assert response.status_code == 200
    assert response.json()["enabled"] is False

    failed = await delivery_rows(client, admin, sub["id"], "failed")
    assert sorted(r["event_id"] for r in failed) == ["evt_a", "evt_b"]
    assert await delivery_rows(client, admin, sub["id"], "pending") == []
    assert await store.queued(sub["id"]) == 0

    # Enabling again does not resurrect them (replay does).
    await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": True}, headers=admin)
    assert len(await delivery_rows(client, admin, sub["id"], "failed")) == 2


async def test_other_patches_leave_deliveries_alone(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    store = DeliveryStore(redis)
    await store.fan_out([(sub["id"], "evt_a")], now_ms())
    await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": True, "description": "x"}, headers=admin)
    assert [r["event_id"] for r in await delivery_rows(client, admin, sub["id"], "pending")] == ["evt_a"]
    assert await store.queued(sub["id"]) == 1


async def test_switching_ordering_off_sends_the_waiting_deliveries(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin, ordering="invoice")
    history = await log_history(redis, 1, 3)
    store = DeliveryStore(redis)
    await store.fan_out([(sub["id"], event_id) for event_id in history], now_ms())
    assert [c.event_id for c in await store.claim(sub["id"], now_ms(), 30_000, 10)] == history[:1]
    await client.patch(f"/subscriptions/{sub['id']}", json={"ordering": "none"}, headers=admin)
    assert {c.event_id for c in await store.claim(sub["id"], now_ms(), 30_000, 10)} == set(history[1:])


async def test_concurrent_patch_and_rotation_lose_neither(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    """Both read-modify-write the same document: neither may overwrite the other's change."""
    for _ in range(5):
        sub = await create(client, admin)
        patched, rotated = await asyncio.gather(
            client.patch(f"/subscriptions/{sub['id']}", json={"description": "renamed"}, headers=admin),
            client.post(f"/subscriptions/{sub['id']}/rotate-secret", headers=admin),
        )
        assert patched.status_code == 200
        assert rotated.status_code == 200
        stored = await SubscriptionStore(redis).get(sub["id"])
        assert stored is not None
        assert stored.description == "renamed"
        assert [s.secret for s in stored.secrets] == [rotated.json()["secret"], sub["secret"]]


async def test_patch_racing_a_delete_does_not_resurrect(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    for _ in range(5):
        sub = await create(client, admin)
        patched, deleted = await asyncio.gather(
            client.patch(f"/subscriptions/{sub['id']}", json={"description": "late"}, headers=admin),
            client.delete(f"/subscriptions/{sub['id']}", headers=admin),
        )
        assert deleted.status_code == 204
        assert patched.status_code in (200, 404)
        assert await SubscriptionStore(redis).get(sub["id"]) is None
        assert (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).status_code == 404


# --- delete ---------------------------------------------------------------------------------------------


async def test_delete_removes_the_subscription_and_its_deliveries(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    other = await create(client, admin)
    store = DeliveryStore(redis)
    await store.fan_out([(sub["id"], "evt_a"), (other["id"], "evt_a")], now_ms())
    await store.claim(sub["id"], now_ms(), 10_000, 10)
    await store.record(sub["id"], [Outcome("evt_a", DELIVERED, None, {"at": "x", "latency_ms": 1})])
    keys = (delivery_queue(sub["id"]), delivery_records(sub["id"]), delivery_order(sub["id"]))
    await store.fan_out([(sub["id"], "evt_b")], now_ms())
    assert await redis.exists(*keys) == 3

    response = await client.delete(f"/subscriptions/{sub['id']}", headers=admin)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/subscriptions/{sub['id']}", headers=admin)).status_code == 404
    assert (await client.get(f"/subscriptions/{sub['id']}/deliveries", headers=admin)).status_code == 404
    assert await redis.exists(*keys) == 0
    assert [s["id"] for s in (await client.get("/subscriptions", headers=admin)).json()["subscriptions"]] == [
        other["id"]
    ]
    assert await store.queued(other["id"]) == 1
    assert (await client.delete(f"/subscriptions/{sub['id']}", headers=admin)).status_code == 404


# --- rotate ---------------------------------------------------------------------------------------------


async def test_rotation_keeps_the_old_secret_signing_for_a_day(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    old = sub["secret"]
    response = await client.post(f"/subscriptions/{sub['id']}/rotate-secret", headers=admin)
    now = datetime.now(UTC)
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old
    assert new.startswith("whsec_")
    assert len(secret_key(new)) == 32

    stored = await SubscriptionStore(redis).get(sub["id"])
    assert stored is not None
    assert [s.secret for s in stored.secrets] == [new, old]
    assert stored.secrets[0].expires_at is None
    expires = stored.secrets[1].expires_at
    assert expires is not None
    assert abs(expires - (now + ROTATION_OVERLAP)) < timedelta(minutes=1)
    assert abs(expires - (now + timedelta(hours=24))) < timedelta(minutes=1)
    assert response.json()["previous_secret_expires_at"] == format_time(expires)

    assert stored.signing_keys(now) == [secret_key(new), secret_key(old)]
    assert stored.signing_keys(now + timedelta(hours=23)) == [secret_key(new), secret_key(old)]
    assert stored.signing_keys(now + timedelta(hours=25)) == [secret_key(new)]

    # Rotation does not touch the rest, and still shows no secret on GET.
    fetched = await client.get(f"/subscriptions/{sub['id']}", headers=admin)
    assert fetched.json() == {k: v for k, v in sub.items() if k != "secret"}


async def test_rotating_twice_keeps_current_and_previous(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    first = (await client.post(f"/subscriptions/{sub['id']}/rotate-secret", headers=admin)).json()["secret"]
    second = (await client.post(f"/subscriptions/{sub['id']}/rotate-secret", headers=admin)).json()["secret"]
    assert len({sub["secret"], first, second}) == 3
    stored = await SubscriptionStore(redis).get(sub["id"])
    assert stored is not None
    assert [s.secret for s in stored.secrets] == [second, first]
    assert [s.expires_at is None for s in stored.secrets] == [True, False]
    assert stored.signing_keys(datetime.now(UTC)) == [secret_key(second), secret_key(first)]


# --- deliveries -----------------------------------------------------------------------------------------


async def test_deliveries_listing_filters_by_status(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    sub = await create(client, admin)
    store = DeliveryStore(redis)
    start = now_ms()
    for n, event_id in enumerate(["evt_p", "evt_d", "evt_f"]):
        await store.fan_out([(sub["id"], event_id)], start + n)
    await store.claim(sub["id"], start + 10, 30_000, 10)
    ok = {"at": "2026-11-22T10:00:00Z", "status_code": 200, "error": None, "latency_ms": 12.5}
    bad = {"at": "2026-11-22T10:00:01Z", "status_code": None, "error": "timeout", "latency_ms": 15000}
    await store.record(sub["id"], [Outcome("evt_d", "delivered", None, ok), Outcome("evt_f", "failed", None, bad)])

    everything = await delivery_rows(client, admin, sub["id"])
    assert [r["event_id"] for r in everything] == ["evt_f", "evt_d", "evt_p"]  # newest first
    assert all(set(r) == {"event_id", "status", "attempts"} for r in everything)
    assert await delivery_rows(client, admin, sub["id"], "pending") == [
        {"event_id": "evt_p", "status": "pending", "attempts": []}
    ]
    assert await delivery_rows(client, admin, sub["id"], "delivered") == [
        {"event_id": "evt_d", "status": "delivered", "attempts": [ok | SCHEDULED]}
    ]
    assert await delivery_rows(client, admin, sub["id"], "failed") == [
        {"event_id": "evt_f", "status": "failed", "attempts": [bad | SCHEDULED]}
    ]
    limited = await client.get(f"/subscriptions/{sub['id']}/deliveries", params={"limit": "2"}, headers=admin)
    assert [r["event_id"] for r in limited.json()["deliveries"]] == ["evt_f", "evt_d"]


async def test_deliveries_of_a_new_subscription(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin)
    response = await client.get(f"/subscriptions/{sub['id']}/deliveries", headers=admin)
    assert response.status_code == 200
    assert response.json() == {"deliveries": []}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "queued"},
        {"status": "PENDING"},
        {"status": "all"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "-1"},
        {"limit": "x"},
        {"limit": "1.5"},
        {"limit": "²"},
        {"limit": "\u0661\u0660"},
        {"limit": "9" * 5000},
    ],
)
async def test_deliveries_bad_parameters(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str]
) -> None:
    sub = await create(client, admin)
    response = await client.get(f"/subscriptions/{sub['id']}/deliveries", params=params, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


# --- replay ---------------------------------------------------------------------------------------------


def an_hour_ago() -> str:
    return format_time(datetime.now(UTC) - timedelta(hours=1))


async def replay(client: httpx.AsyncClient, admin: dict[str, str], sub_id: str, body: Any) -> httpx.Response:
    return await client.post(f"/subscriptions/{sub_id}/replay", json=body, headers=admin)


async def test_replay_since_queues_every_matching_event(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await log_events(redis, "shop", 6)  # 3 invoice.created, 3 invoice.paid
    await log_events(redis, "sp", 4)  # 2 and 2
    everything = await create(client, admin)
    paid = await create(client, admin, event_types=["invoice.paid"])
    sp_only = await create(client, admin, accounts=["sp"])
    sp_paid = await create(client, admin, accounts=["sp"], event_types=["invoice.paid"])
    sms_only = await create(client, admin, accounts=["sms"])

    expected = {everything["id"]: 10, paid["id"]: 5, sp_only["id"]: 4, sp_paid["id"]: 2, sms_only["id"]: 0}
    for sub_id, count in expected.items():
        response = await replay(client, admin, sub_id, {"since": an_hour_ago()})
        assert response.status_code == 202
        assert response.json()["queued"] == count
        rows = await delivery_rows(client, admin, sub_id, "pending")
        assert len(rows) == count

    events = {e["id"]: e for e in await logged(client, admin)}
    paid_ids = {e_id for e_id, e in events.items() if e["type"] == "invoice.paid"}
    assert {r["event_id"] for r in await delivery_rows(client, admin, paid["id"])} == paid_ids
    sp_paid_ids = {e_id for e_id in paid_ids if events[e_id]["data"]["invoice"]["account"] == "sp"}
    assert {r["event_id"] for r in await delivery_rows(client, admin, sp_paid["id"])} == sp_paid_ids


async def test_replay_since_respects_the_time(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis) -> None:
    sub = await create(client, admin)
    await log_events(redis, "shop", 3)
    await asyncio.sleep(0.05)
    middle = format_time(datetime.now(UTC))
    await asyncio.sleep(0.05)
    await log_events(redis, "sp", 2)
    later_ids = {e["id"] for e in await logged(client, admin, account="sp")}

    response = await replay(client, admin, sub["id"], {"since": middle})
    assert response.json()["queued"] == 2
    assert {r["event_id"] for r in await delivery_rows(client, admin, sub["id"])} == later_ids

    future = format_time(datetime.now(UTC) + timedelta(hours=1))
    assert (await replay(client, admin, sub["id"], {"since": future})).json()["queued"] == 0
    # An offset other than Z is fine too.
    offset = (datetime.now(UTC) - timedelta(hours=1)).astimezone().isoformat()
    assert (await replay(client, admin, sub["id"], {"since": offset})).json()["queued"] == 5


async def test_replay_by_event_ids(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis) -> None:
    await log_events(redis, "shop", 4)
    await log_events(redis, "sp", 2)
    events = await logged(client, admin)
    shop_paid = [e["id"] for e in events if e["type"] == "invoice.paid" and e["data"]["invoice"]["account"] == "shop"]
    sp_any = [e["id"] for e in events if e["data"]["invoice"]["account"] == "sp"]
    assert len(shop_paid) == 2
    assert len(sp_any) == 2

    sub = await create(client, admin, accounts=["shop"], event_types=["invoice.paid"])
    wanted = [shop_paid[0], "evt_unknown", shop_paid[1], shop_paid[0], *sp_any]
    response = await replay(client, admin, sub["id"], {"event_ids": [*wanted, "evt_other", "evt_unknown"]})
    assert response.status_code == 202
    assert response.json()["queued"] == 2  # unknown, duplicate and filtered-out ids are not queued
    assert response.json()["unknown"] == ["evt_unknown", "evt_other"]  # each once, in the order asked
    assert sorted(r["event_id"] for r in await delivery_rows(client, admin, sub["id"], "pending")) == sorted(shop_paid)

    nothing = (await replay(client, admin, sub["id"], {"event_ids": ["evt_nope"]})).json()
    assert (nothing["queued"], nothing["unknown"]) == (0, ["evt_nope"])
    assert (await replay(client, admin, sub["id"], {"event_ids": shop_paid})).json()["unknown"] == []
    assert (await replay(client, admin, sub["id"], {"since": an_hour_ago()})).json()["unknown"] == []


async def test_replay_makes_delivered_and_failed_deliveries_pending_again(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await log_events(redis, "shop", 2)
    sub = await create(client, admin)
    ids = [e["id"] for e in await logged(client, admin)]
    store = DeliveryStore(redis)
    await store.fan_out([(sub["id"], event_id) for event_id in ids], now_ms())
    await store.claim(sub["id"], now_ms(), 30_000, 10)
    ok = {"at": "2026-11-22T10:00:00Z", "status_code": 200, "error": None, "latency_ms": 3}
    bad = {"at": "2026-11-22T10:00:00Z", "status_code": 500, "error": None, "latency_ms": 4}
    await store.record(sub["id"], [Outcome(ids[0], "delivered", None, ok), Outcome(ids[1], "failed", None, bad)])
    assert await delivery_rows(client, admin, sub["id"], "pending") == []

    response = await replay(client, admin, sub["id"], {"since": an_hour_ago()})
    assert response.json()["queued"] == 2
    pending = {r["event_id"]: r for r in await delivery_rows(client, admin, sub["id"], "pending")}
    assert set(pending) == set(ids)
    assert pending[ids[0]]["attempts"] == [ok | SCHEDULED]  # history kept
    assert pending[ids[1]]["attempts"] == [bad | SCHEDULED]
    assert await delivery_rows(client, admin, sub["id"], "delivered") == []
    assert await delivery_rows(client, admin, sub["id"], "failed") == []
    claimed = await store.claim(sub["id"], now_ms(), 30_000, 10)
    assert sorted(c.event_id for c in claimed) == sorted(ids)
    assert {c.tries for c in claimed} == {0}


async def test_replay_after_disabling_and_enabling(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await log_events(redis, "shop", 2)
    sub = await create(client, admin)
    ids = [e["id"] for e in await logged(client, admin)]
    await DeliveryStore(redis).fan_out([(sub["id"], event_id) for event_id in ids], now_ms())

    await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": False}, headers=admin)
    refused = await replay(client, admin, sub["id"], {"since": an_hour_ago()})
    assert refused.status_code == 409
    assert refused.json()["error"] == "subscription_disabled"
    assert len(await delivery_rows(client, admin, sub["id"], "failed")) == 2

    await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": True}, headers=admin)
    assert (await replay(client, admin, sub["id"], {"event_ids": ids})).json()["queued"] == 2
    assert len(await delivery_rows(client, admin, sub["id"], "pending")) == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"since": "2020-01-01T00:00:00Z", "event_ids": ["evt_1"]},
        {"since": "yesterday"},
        {"since": ""},
        {"since": 1700000000},
        {"since": None},
        {"since": "2020-13-01T00:00:00Z"},
        {"since": "2020-01-01T00:00:00"},
        {"since": "2020-01-01"},
        {"since": "2020-01-01T00:00:00+0300"},
        {"event_ids": []},
        {"event_ids": "evt_1"},
        {"event_ids": [1, 2]},
        {"event_ids": [["evt_1"]]},
        {"event_ids": None},
        {"event_ids": ["evt_1"] * 10_001},
        {"since": "2020-01-01T00:00:00Z", "extra": 1},
        [],
        "2020-01-01T00:00:00Z",
    ],
)
async def test_replay_bad_bodies(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, body: Any) -> None:
    await log_events(redis, "shop", 1)
    sub = await create(client, admin)
    response = await replay(client, admin, sub["id"], body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert await delivery_rows(client, admin, sub["id"]) == []


@pytest.mark.parametrize("since", ["2020-01-01T00:00:00", "2020-01-01 00:00", "yesterday"])
async def test_replay_since_without_an_offset_says_the_format(
    client: httpx.AsyncClient, admin: dict[str, str], since: str
) -> None:
    sub = await create(client, admin)
    response = await replay(client, admin, sub["id"], {"since": since})
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "bad_request",
            "detail": "since must be an RFC 3339 time with an offset, Z or +hh:mm (2026-11-22T10:00:00Z)",
        },
    )


async def test_replay_non_json_body(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin)
    response = await client.post(f"/subscriptions/{sub['id']}/replay", content=b"{since", headers=admin)
    assert (response.status_code, response.json()) == (400, {**NOT_AN_OBJECT, "error": "bad_request"})


async def test_replay_to_a_disabled_subscription_is_409(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await log_events(redis, "shop", 2)
    sub = await create(client, admin)
    await client.patch(f"/subscriptions/{sub['id']}", json={"enabled": False}, headers=admin)
    for body in ({"since": an_hour_ago()}, {"event_ids": [e["id"] for e in await logged(client, admin)]}):
        response = await replay(client, admin, sub["id"], body)
        assert response.status_code == 409
        assert response.json()["error"] == "subscription_disabled"
    assert await delivery_rows(client, admin, sub["id"]) == []


async def test_deliveries_listing_filters_by_time_window_and_event_type(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await log_events(redis, "shop", 4)  # created, paid, created, paid
    sub = await create(client, admin)
    ids = [e["id"] for e in await logged(client, admin)]
    store = DeliveryStore(redis)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n, event_id in enumerate(ids):  # queued an hour apart, oldest first
        await store.fan_out([(sub["id"], event_id)], int((base + timedelta(hours=n)).timestamp() * 1000))

    async def listed(**params: str) -> list[str]:
        response = await client.get(f"/subscriptions/{sub['id']}/deliveries", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [row["event_id"] for row in response.json()["deliveries"]]

    assert await listed() == ids[::-1]
    assert await listed(since=format_time(base + timedelta(hours=1))) == [ids[3], ids[2], ids[1]]
    assert await listed(until=format_time(base + timedelta(minutes=90))) == [ids[1], ids[0]]
    window = {"since": "2026-11-01T01:00:00+00:00", "until": "2026-11-01T02:00:00Z"}
    assert await listed(**window) == [ids[2], ids[1]]
    assert await listed(type="invoice.paid") == [ids[3], ids[1]]
    assert await listed(type="invoice.created", since=format_time(base + timedelta(hours=1))) == [ids[2]]
    assert await listed(type="relay.*") == []
    for bad in ({"since": "yesterday"}, {"until": "2026-13-01T00:00:00Z"}, {"type": "invoice.nope"}):
        response = await client.get(f"/subscriptions/{sub['id']}/deliveries", params=bad, headers=admin)
        assert response.status_code == 400, bad


async def test_recover_refuses_a_missing_or_bad_window(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin)
    for body in (
        {},
        {"until": an_hour_ago()},
        {"since": "soon"},
        {"since": an_hour_ago(), "until": "2000-01-01T00:00:00Z"},
        {"since": an_hour_ago(), "extra": 1},
    ):
        response = await client.post(f"/subscriptions/{sub['id']}/recover", json=body, headers=admin)
        assert response.status_code == 400, body
    response = await client.post(f"/subscriptions/{sub['id']}/recover", json={"since": an_hour_ago()}, headers=admin)
    assert response.status_code == 202
    assert response.json()["queued"] == 0
    missing = await client.post("/subscriptions/sub_nope/recover", json={"since": an_hour_ago()}, headers=admin)
    assert missing.status_code == 404
