"""The operator API in process, against a real Valkey."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from service.state.account_state import OK, AccountStates, SyncReport
from service.state.keys import SYNC_DUE
from tests.service.support import log_events


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/sync"), ("POST", "/accounts/shop/sync"), ("GET", "/accounts"), ("GET", "/events"), ("GET", "/events/x"),
])  # fmt: skip
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic admin-token-for-tests"])
async def test_admin_api_needs_the_token(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = await client.request(method, path, headers=headers)
    assert response.status_code == 401


async def test_triggers(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis) -> None:
    assert (await client.post("/accounts/shop/sync", headers=admin)).status_code == 202
    assert [m.decode() for m in await redis.zrange(SYNC_DUE, 0, -1)] == ["shop"]
    assert (await client.post("/accounts/nobody/sync", headers=admin)).status_code == 404
    assert (await client.post("/sync", headers=admin)).status_code == 202
    assert await redis.zcard(SYNC_DUE) == 5


async def test_accounts(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis) -> None:
    await log_events(redis, "shop", 3)
    finished = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    await AccountStates(redis).record("shop", SyncReport(status=OK, finished_at=finished, records=3, complete=True))
    rows = {row["name"]: row for row in (await client.get("/accounts", headers=admin)).json()["accounts"]}
    assert set(rows) == {"shop", "nosecret", "sp", "sms", "isp"}
    assert rows["shop"]["provider"] == "cryptocloud"
    assert rows["shop"]["last_sync_at"] == "2026-11-22T10:00:00Z"
    assert rows["shop"]["last_sync_status"] == "ok"
    assert rows["shop"]["last_error"] is None
    assert rows["shop"]["invoices"] == 3
    assert rows["sp"] | {"poll_interval": 0} == {
        "name": "sp",
        "provider": "simplepay",
        "last_sync_at": None,
        "last_sync_status": None,
        "last_error": None,
        "invoices": 0,
        "skipped_records": 0,
        "poll_interval": 0,
        "last_read": None,
    }


async def test_event_log_paging_filters_and_lookup(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await log_events(redis, "shop", 25)
    await log_events(redis, "sp", 5)
    seen: list[dict[str, object]] = []
    after = None
    while True:
        params = {"limit": "10", **({"after": after} if after else {})}
        page = (await client.get("/events", params=params, headers=admin)).json()
        seen += page["events"]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 30
    assert len({event["id"] for event in seen}) == 30

    only_sp = (await client.get("/events", params={"account": "sp"}, headers=admin)).json()
    assert [e["data"]["invoice"]["account"] for e in only_sp["events"]] == ["sp"] * 5
    assert only_sp["next"] is None

    paid = (await client.get("/events", params={"type": "invoice.paid", "account": "shop"}, headers=admin)).json()
    assert {e["type"] for e in paid["events"]} == {"invoice.paid"}
    assert len(paid["events"]) == 12

    one = seen[7]
    fetched = await client.get(f"/events/{one['id']}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json() == one
    assert (await client.get("/events/evt_missing", headers=admin)).status_code == 404


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"after": "not-a-cursor!"}])
async def test_event_log_bad_parameters(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str]
) -> None:
    assert (await client.get("/events", params=params, headers=admin)).status_code == 400
