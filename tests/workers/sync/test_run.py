"""One sync against the sandbox in process (its ASGI app behind the sync's injectable sender) and a real
Valkey: what is recorded, what is logged, and with which context."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest
import structlog
from redis.asyncio import Redis
from structlog.testing import capture_logs

from contracts.account_file import parse_accounts
from contracts.accounts import Account
from contracts.records import RawRecord
from contracts.wire import HttpRequest, HttpResponse
from sandbox.accounts import create_account
from sandbox.app import create_app
from sandbox.state import Sandbox
from service.state.account_state import AccountStates, SyncReport
from service.state.eventlog import EventLog
from workers.sync.run import run_sync
from workers.sync.sessions import Sessions
from workers.sync.source_cache import SourceCache

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
    structlog.contextvars.bind_contextvars(account="shop", job_id="job-1")
    try:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            outcome = await run_sync(
                ACCOUNT,
                sender(client),
                Sessions(sender(client)),
                EventLog(redis),
                baseline_done=False,
                sources=SourceCache(),
            )
    finally:
        structlog.contextvars.clear_contextvars()
    report = outcome.report
    assert report.status == "ok"
    assert outcome.retry_after is None
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
    sources = SourceCache()

    def counted(record: RawRecord) -> object:
        parsed.append(record)
        return full_parse(record)

    monkeypatch.setattr(RawRecord, "value", counted)
    redis = Redis.from_url(redis_url)

    async def sync() -> tuple[int, int]:
        parsed.clear()
        report = (
            await run_sync(
                ACCOUNT, sender(client), Sessions(sender(client)), EventLog(redis), baseline_done=True, sources=sources
            )
        ).report
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


class CountingEventLog(EventLog):
    """Counts the snapshots read from Redis."""

    read = 0

    async def snapshots(self, account: str, invoice_ids: Sequence[str]) -> list[str]:
        self.read += len(invoice_ids)
        return await super().snapshots(account, invoice_ids)


async def first_created(client: httpx.AsyncClient) -> str:
    listed = (await client.get("/_sandbox/accounts/shop/invoices")).json()["invoices"]
    return next(invoice["id"] for invoice in listed if invoice["status"] == "created")


async def test_a_worker_does_not_read_again_the_snapshots_it_knows(
    sandbox_http: tuple[Sandbox, httpx.AsyncClient], redis_url: str
) -> None:
    _, client = sandbox_http
    redis = Redis.from_url(redis_url)
    eventlog = CountingEventLog(redis)
    sources = SourceCache()

    async def sync() -> tuple[int, int]:
        eventlog.read = 0
        report = (
            await run_sync(
                ACCOUNT, sender(client), Sessions(sender(client)), eventlog, baseline_done=True, sources=sources
            )
        ).report
        assert (report.status, report.records) == ("ok", 250)
        return report.events, eventlog.read

    assert await sync() == (250, 250)
    assert await sync() == (0, 0)
    invoice_id = await first_created(client)
    (await client.post(f"/_sandbox/accounts/shop/invoices/{invoice_id}/cancel", json={})).raise_for_status()
    assert await sync() == (1, 1)
    assert await sync() == (0, 0)
    # Another process's cache starts empty and reads everything once.
    sources = SourceCache()
    assert await sync() == (0, 250)
    await redis.aclose()


async def test_a_write_by_another_worker_makes_a_worker_read_the_snapshots_again(
    sandbox_http: tuple[Sandbox, httpx.AsyncClient], redis_url: str
) -> None:
    """Worker A knows an invoice as `created`; worker B records it `canceled`; the provider sets it back to
    exactly the bytes A knows. A must not trust what it knows: the change back is an event."""
    _, client = sandbox_http
    redis = Redis.from_url(redis_url)
    bodies: list[bytes] = []
    send = sender(client)

    async def recording(request: HttpRequest) -> HttpResponse:
        response = await send(request)
        bodies.append(response.body)
        return response

    worker_a, worker_b = SourceCache(), SourceCache()

    async def sync(sources: SourceCache) -> int:
        report = (
            await run_sync(
                ACCOUNT, recording, Sessions(sender(client)), EventLog(redis), baseline_done=True, sources=sources
            )
        ).report
        assert report.status == "ok"
        return report.events

    assert await sync(worker_a) == 250
    first_listing = list(bodies)
    invoice_id = await first_created(client)
    actions = f"/_sandbox/accounts/shop/invoices/{invoice_id}"
    (await client.post(f"{actions}/set_status", json={"status": "canceled"})).raise_for_status()
    assert await sync(worker_b) == 1
    (await client.post(f"{actions}/set_status", json={"status": "created"})).raise_for_status()
    bodies.clear()
    assert await sync(worker_a) == 1
    assert bodies == first_listing  # the precondition: the listing is byte for byte what A saw first
    logged, _ = await EventLog(redis).page(after=None, limit=1000)
    assert [json.loads(e.body)["data"]["previous_status"] for e in logged[-2:]] == ["pending", "canceled"]
    await redis.aclose()


# --- initial_sync = "baseline": the first complete sync records state silently ---------------------

BASELINE = parse_accounts(
    {
        "accounts": {
            "shop": {"provider": "cryptocloud", "base_url": "http://sandbox", "initial_sync": "baseline", **KEYS}
        }
    },
    {},
)["shop"]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.parametrize(("account", "baseline_done", "events"), [
    (BASELINE, False, 0),
    (BASELINE, True, 250),
    (ACCOUNT, False, 250),
    (ACCOUNT, True, 250),
], ids=["baseline-first", "baseline-after", "emit-first", "emit-after"])  # fmt: skip
async def test_only_a_baseline_account_s_first_sync_is_silent(
    sandbox_http: tuple[Sandbox, httpx.AsyncClient], redis: Redis, account: Account, baseline_done: bool, events: int
) -> None:
    _, client = sandbox_http
    eventlog = EventLog(redis)
    report = (
        await run_sync(
            account,
            sender(client),
            Sessions(sender(client)),
            eventlog,
            baseline_done=baseline_done,
            sources=SourceCache(),
        )
    ).report
    assert (report.status, report.complete, report.records, report.events) == ("ok", True, 250, events)
    logged, _ = await eventlog.page(after=None, limit=1000)
    assert len(logged) == events
    # Silent or not, every invoice's state is recorded: the next sync compares with it.
    [row] = await AccountStates(redis).describe([account])
    assert row["invoices"] == 250


async def test_the_baseline_ends_with_the_first_complete_sync(
    sandbox_http: tuple[Sandbox, httpx.AsyncClient], redis: Redis
) -> None:
    """As the sync job runs it: `baseline_done` read before the sync, the report recorded after. A sync cut
    short leaves the account silent; the first complete one ends the baseline, and from then on an invoice
    first seen is an event (silence is only ever about first sight: a change to a known invoice always is)."""
    _, client = sandbox_http
    states, eventlog, sources = AccountStates(redis), EventLog(redis), SourceCache()
    send = sender(client)
    requests = 0

    async def refused_after_the_first_page(request: HttpRequest) -> HttpResponse:
        nonlocal requests
        requests += 1
        return await send(request) if requests == 1 else HttpResponse(401, {}, b"")

    async def sync(through: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> SyncReport:
        done = await states.baseline_done("shop")
        report = (
            await run_sync(BASELINE, through, Sessions(through), eventlog, baseline_done=done, sources=sources)
        ).report
        await states.record("shop", report)
        return report

    cut_short = await sync(refused_after_the_first_page)
    assert (cut_short.status, cut_short.complete, cut_short.events) == ("auth_failed", False, 0)
    assert 0 < cut_short.records < 250
    assert not await states.baseline_done("shop")

    complete = await sync(send)
    assert (complete.status, complete.complete, complete.records, complete.events) == ("ok", True, 250, 0)
    assert await states.baseline_done("shop")
    silent, _ = await eventlog.page(after=None, limit=1000, event_type="invoice.*")
    assert silent == []
    # The refused sync and the complete one after it are reported as operational events.
    reported, _ = await eventlog.page(after=None, limit=1000, event_type="relay.*")
    assert [event.type for event in reported] == ["relay.account.sync_failing", "relay.account.sync_recovered"]

    invoice_id = await first_created(client)
    (await client.post(f"/_sandbox/accounts/shop/invoices/{invoice_id}/cancel", json={})).raise_for_status()
    (await client.post("/_sandbox/accounts/shop/invoices", json={"amount": 1250})).raise_for_status()
    later = await sync(send)
    assert (later.status, later.records, later.events) == ("ok", 251, 2)
    logged, _ = await eventlog.page(after=None, limit=1000, event_type="invoice.*")
    assert sorted(event.type for event in logged) == ["invoice.canceled", "invoice.created"]


@pytest.mark.parametrize("limit_mode", ["index", "count"])
@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 350, 1001])
async def test_a_full_read_fetches_pages_concurrently_and_records_every_invoice_once(
    redis_url: str, limit_mode: str, count: int
) -> None:
    """Under both readings of CryptoCloud's `limit`, with a fifth of the list requests failing once."""
    state = Sandbox()
    create_account(
        state,
        {"name": "shop", "provider": "cryptocloud", "count": count, "seed": count, "limit_mode": limit_mode, **KEYS},
    )
    requests: list[HttpRequest] = []
    in_flight = [0, 0]  # now, at most
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(state)), base_url="http://sandbox"
    ) as client:
        await client.post("/_sandbox/accounts/shop/faults", json={"kind": "500", "rate": 0.2, "count": 5})
        plain = sender(client)

        async def recording(request: HttpRequest) -> HttpResponse:
            requests.append(request)
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            try:
                await asyncio.sleep(0.002)  # a round trip, so that requests sent together overlap
                return await plain(request)
            finally:
                in_flight[0] -= 1

        redis = Redis.from_url(redis_url)
        try:
            outcome = await run_sync(
                ACCOUNT,
                recording,
                Sessions(plain),
                EventLog(redis),
                baseline_done=True,
                sources=SourceCache(),
                concurrency=4,
            )
            assert (outcome.report.status, outcome.report.records, outcome.report.events) == ("ok", count, count)
            assert await redis.hlen("relay:snap:shop") == count
        finally:
            await redis.aclose()
    offsets = sorted({json.loads(r.body or b"{}")["offset"] for r in requests})
    assert offsets == [page * 100 for page in range(max(1, -(-count // 100)))]
    # The first page alone, then several at once, at most RELAY_PROVIDER_CONCURRENCY.
    assert in_flight[1] == 1 if count <= 200 else 2 <= in_flight[1] <= 4


async def test_a_failed_sync_is_logged_as_a_warning(redis: Redis) -> None:
    async def refusing(request: HttpRequest) -> HttpResponse:
        return HttpResponse(401, {"content-type": "application/json"}, b'{"detail": "bad key"}')

    with capture_logs() as logs:
        report = (
            await run_sync(
                ACCOUNT, refusing, Sessions(refusing), EventLog(redis), baseline_done=True, sources=SourceCache()
            )
        ).report
    assert report.status != "ok"
    (finished,) = [entry for entry in logs if entry["event"] == "sync_finished"]
    assert finished["log_level"] == "warning"
    assert finished["status"] == report.status
    assert finished["error"]
