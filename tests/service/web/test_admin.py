"""The operator API in process, against a real Valkey."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from service.state.account_state import OK, AccountStates, SyncReport
from service.state.keys import SYNC_DUE
from service.web import refusals
from service.web.refusals import RefusalLog
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


async def test_refused_calls_are_logged_without_the_token_at_most_once_per_client_in_ten_seconds(
    client: httpx.AsyncClient,
) -> None:
    wrong = "wrong-token-that-must-not-be-logged-0123"
    with capture_logs() as logs:
        for _ in range(3):
            assert (await client.get("/events", headers={"authorization": f"Bearer {wrong}"})).status_code == 401
        assert (await client.post("/sync")).status_code == 401
    refused = [line for line in logs if line["event"] == "operator_call_refused"]
    assert refused == [
        {
            "event": "operator_call_refused",
            "log_level": "warning",
            "method": "GET",
            "path": "/events",
            "client": "127.0.0.1",
            "reason": "wrong_token",
            "refused_since_last_line": 0,
        }
    ]
    assert wrong not in repr(logs)


def test_refusal_lines_per_client_and_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(refusals.time, "monotonic", lambda: now[0])
    log = RefusalLog(window_s=10.0, max_clients=2)
    with capture_logs() as logs:
        for _ in range(5):  # one refusal a second from the first client
            log.refused(client="10.0.0.1", method="GET", path="/events", reason="wrong_token")
            now[0] += 1
        log.refused(client="10.0.0.2", method="POST", path="/sync", reason="no_bearer_token")
        now[0] = 10.0
        log.refused(client="10.0.0.1", method="GET", path="/events", reason="wrong_token")
        now[0] = 15.0
        # A third client while two are remembered: the quiet one (10.0.0.2) is forgotten to make room.
        log.refused(client="10.0.0.3", method="GET", path="/accounts", reason="wrong_token")
    lines = [(line["client"], line["refused_since_last_line"]) for line in logs]
    assert lines == [("10.0.0.1", 0), ("10.0.0.2", 0), ("10.0.0.1", 4), ("10.0.0.3", 0)]
    assert sorted(log._clients) == ["10.0.0.1", "10.0.0.3"]


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
