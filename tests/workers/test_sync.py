"""One sync against the sandbox in process (its ASGI app behind the sync's injectable sender) and a real
Valkey: what is recorded, what is logged, and with which context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import httpx
import pytest
import structlog
from redis.asyncio import Redis
from structlog.testing import capture_logs

from contracts.accounts import parse_accounts
from contracts.records import RawRecord
from contracts.wire import HttpRequest, HttpResponse
from sandbox.accounts import create_account
from sandbox.app import create_app
from sandbox.state import Sandbox
from service.eventlog import EventLog
from workers.sessions import Sessions
from workers.sync import run_sync

KEYS = {"api_key": "cc-key-0123456789", "secret_key": "cc-secret-0123456789-abcdefghijklmnop"}


@pytest.fixture
async def sandbox_http() -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    state = Sandbox()
    create_account(state, {"name": "shop", "provider": "cryptocloud", "count": 250, "seed": 5, **KEYS})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(state)), base_url="http://sandbox"
    ) as client:
        yield state, client


def sender(client: httpx.AsyncClient) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    async def send(request: HttpRequest) -> HttpResponse:
        response = await client.request(
            request.method, request.url, headers=dict(request.headers), content=request.body
        )
        return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    return send


ACCOUNT = parse_accounts(
    {"accounts": {"shop": {"provider": "cryptocloud", "base_url": "http://sandbox", "initial_sync": "emit", **KEYS}}},
    {},
)["shop"]


async def test_a_sync_logs_each_change_with_its_context(
    sandbox_http: tuple[Sandbox, httpx.AsyncClient], redis_url: str
) -> None:
    _, client = sandbox_http
    redis = Redis.from_url(redis_url)
    async with aiohttp.ClientSession() as unused:
        structlog.contextvars.bind_contextvars(account="shop", job_id="job-1")
        try:
            with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
                report, retry_after = await run_sync(
                    ACCOUNT, sender(client), Sessions(unused), EventLog(redis), baseline_done=False
                )
        finally:
            structlog.contextvars.clear_contextvars()
    assert report.status == "ok"
    assert retry_after is None
    assert (report.records, report.events, report.skipped) == (250, 250, 0)
    changed = [entry for entry in logs if entry["event"] == "invoice_changed"]
    assert len(changed) == 250
    assert all(entry["account"] == "shop" and entry["job_id"] == "job-1" for entry in changed)
    assert all(entry["invoice"].startswith("shop:INV-") and entry["event_id"].startswith("evt_") for entry in changed)
    (finished,) = [entry for entry in logs if entry["event"] == "sync_finished"]
    assert finished["pages"] == 3
    assert finished["events"] == 250
    logged = await EventLog(redis).page(after=None, limit=1000)
    assert {e.event_id for e in logged[0]} == {entry["event_id"] for entry in changed}
    await redis.aclose()


async def test_a_re_sync_parses_only_the_records_that_changed(
    sandbox_http: tuple[Sandbox, httpx.AsyncClient], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = sandbox_http
    parsed: list[RawRecord] = []
    full_parse = RawRecord.value

    def counted(record: RawRecord) -> object:
        parsed.append(record)
        return full_parse(record)

    monkeypatch.setattr(RawRecord, "value", counted)
    redis = Redis.from_url(redis_url)
    async with aiohttp.ClientSession() as unused:

        async def sync() -> tuple[int, int]:
            parsed.clear()
            report, _ = await run_sync(ACCOUNT, sender(client), Sessions(unused), EventLog(redis), baseline_done=True)
            assert report.status == "ok"
            assert report.records == 250
            return report.events, len(parsed)

        assert await sync() == (250, 250)
        assert await sync() == (0, 0)
        listed = (await client.get("/_sandbox/accounts/shop/invoices")).json()["invoices"]
        chosen = [invoice["id"] for invoice in listed if invoice["status"] != "canceled"][:3]
        for invoice_id in chosen:
            (await client.post(f"/_sandbox/accounts/shop/invoices/{invoice_id}/cancel", json={})).raise_for_status()
        assert await sync() == (3, 3)
        assert await sync() == (0, 0)
    await redis.aclose()
