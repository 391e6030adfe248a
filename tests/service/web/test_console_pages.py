"""The console's pages in process, against a real Valkey: what each shows, the CSP on every answer, values
shown as text, nothing inline, 404s."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from contracts.changes import detect_change
from service.state.account_state import OK, AccountStates, SyncReport
from service.state.deliveries import DELIVERED, DeliveryStore, Outcome
from service.state.eventlog import EventLog, PendingChange
from service.web.console.headers import CONTENT_SECURITY_POLICY
from tests.service.conftest import make_settings
from tests.service.support import invoice, log_events
from tests.service.web.console_support import console_client, csrf, sign_in

PUBLIC_URL = "http://93.184.216.34/hooks/invoices"
SCRIPT = "<script>alert('owned')</script>"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(make_settings(redis_url)) as (http, _):
        await sign_in(http)
        yield http


async def subscribe(client: httpx.AsyncClient, admin: dict[str, str], **body: object) -> str:
    response = await client.post("/subscriptions", json={"url": PUBLIC_URL, **body}, headers=admin)
    assert response.status_code == 201, response.text
    subscription_id: str = response.json()["id"]
    return subscription_id


async def log_invoice(redis: Redis, account: str, number: int, **fields: object) -> str:
    """Log the first sight of invoice `number` of `account` (fields replaced as given); its event id."""
    seen = replace(invoice(account, number), **fields)
    change = detect_change(None, seen, observed_at=datetime.now(UTC))
    assert change is not None
    assert change.event is not None
    assert (await EventLog(redis).commit(account, [PendingChange(seen.invoice_id, "", change)])).logged == 1
    return change.event.id


def rows(page: str, attribute: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', page)


async def test_the_overview_shows_accounts_activity_health_and_the_newest_events(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    await AccountStates(redis).record("shop", SyncReport(OK, datetime.now(UTC), records=3, read="narrow"))
    changes = await log_events(redis, "shop", 3)
    subscription_id = await subscribe(client, admin)
    page = (await client.get("/console")).text
    assert rows(page, "data-account") == ["isp", "nosecret", "shop", "sms", "sp"]
    shop = page[page.index('data-account="shop"') :].split("</tr>")[0]
    assert "cryptocloud" in shop
    assert "hinted" in shop
    assert ">ok<" in shop
    assert 'class="sync-account"' in shop
    for kind in ("callbacks", "syncs", "events", "deliveries"):
        figure = page[page.index(f'data-series="{kind}"') :].split("</figure>")[0]
        assert "<svg" in figure
    events_figure = page[page.index('data-series="events"') :].split("</figure>")[0]
    assert "3 in the hour" in events_figure
    assert rows(page, "data-subscription-id") == [subscription_id]
    recent = page[page.index('id="recent-events"') :]
    assert 'hx-get="/console/fragments/recent-events"' in recent
    newest_first = [c.change.event.id for c in reversed(changes) if c.change.event is not None]
    assert rows(recent, "data-event-id") == newest_first
    fragment = await client.get("/console/fragments/recent-events")
    assert rows(fragment.text, "data-event-id") == newest_first
    assert "<html" not in fragment.text


async def test_sync_now_requests_a_sync_and_says_so_once(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/console/accounts/shop/sync", data={"csrf": await csrf(client)})
    assert (response.status_code, response.headers["location"]) == (303, "/console")
    assert await redis.zscore("relay:sync:due", "shop") is not None
    page = (await client.get("/console")).text
    assert '<p id="flash" class="flash ok" role="status">Sync requested for shop.</p>' in page
    assert 'id="flash"' not in (await client.get("/console")).text
    missing = await client.post("/console/accounts/nope/sync", data={"csrf": await csrf(client)})
    assert missing.status_code == 404


async def test_the_events_page_filters_pages_newest_first_and_tails(client: httpx.AsyncClient, redis: Redis) -> None:
    shop = [c.change.event.id for c in await log_events(redis, "shop", 60) if c.change.event is not None]
    sp = [c.change.event.id for c in await log_events(redis, "sp", 2) if c.change.event is not None]
    page = (await client.get("/console/events")).text
    assert 'id="event-filters"' in page
    listed = rows(page, "data-event-id")
    assert listed == [*reversed(sp), *reversed(shop)][:50]
    older = re.search(r'<a id="older" href="([^"]+)"', page)
    assert older is not None
    rest = rows((await client.get(older.group(1).replace("&amp;", "&"))).text, "data-event-id")
    assert rest == list(reversed(shop))[48:]

    only_sp = rows((await client.get("/console/events", params={"account": "sp"})).text, "data-event-id")
    assert only_sp == list(reversed(sp))
    paid = (await client.get("/console/events", params={"account": "shop", "type": "invoice.paid"})).text
    assert len(rows(paid, "data-event-id")) == 30
    one = (await client.get("/console/events", params={"invoice": "INV-00000007"})).text
    assert rows(one, "data-event-id") == [shop[7]]
    unknown_type = await client.get("/console/events", params={"type": "nope"})
    assert "unknown event type" in unknown_type.text

    sp_page = (await client.get("/console/events", params={"account": "sp"})).text
    tail = re.search(r'<tbody id="events-tail" hx-get="([^"]+)"', sp_page)
    assert tail is not None
    tail_url = tail.group(1).replace("&amp;", "&")
    assert rows((await client.get(tail_url)).text, "data-event-id") == []
    newer = [await log_invoice(redis, "sp", n) for n in (10, 11)]
    await log_invoice(redis, "shop", 100)
    fragment = (await client.get(tail_url)).text
    assert fragment.startswith('<tbody id="events-tail"')
    assert rows(fragment, "data-event-id") == list(reversed(newer))


async def test_a_page_opened_on_an_empty_log_tails_every_new_event(client: httpx.AsyncClient, redis: Redis) -> None:
    page = (await client.get("/console/events")).text
    tail = re.search(r'<tbody id="events-tail" hx-get="([^"]+)"', page)
    assert tail is not None
    tail_url = tail.group(1).replace("&amp;", "&")
    assert rows((await client.get(tail_url)).text, "data-event-id") == []
    first = await log_invoice(redis, "shop", 1)
    second = await log_invoice(redis, "sp", 2)
    assert rows((await client.get(tail_url)).text, "data-event-id") == [second, first]


async def test_a_sparse_filter_tails_from_the_newest_event_of_the_whole_log(
    client: httpx.AsyncClient, redis: Redis
) -> None:
    await log_invoice(redis, "sp", 1)
    page = (await client.get("/console/events", params={"account": "shop"})).text
    tail = re.search(r'<tbody id="events-tail" hx-get="([^"]+)"', page)
    assert tail is not None
    tail_url = tail.group(1).replace("&amp;", "&")
    assert rows((await client.get(tail_url)).text, "data-event-id") == []
    await log_invoice(redis, "sp", 2)
    shop = await log_invoice(redis, "shop", 3)
    assert rows((await client.get(tail_url)).text, "data-event-id") == [shop]


async def test_the_event_page_shows_body_trace_and_every_delivery_attempt(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    event = (await log_events(redis, "shop", 1))[0].change.event
    assert event is not None
    delivered_to = await subscribe(client, admin)
    await subscribe(client, admin, accounts=["sp"])
    store = DeliveryStore(redis)
    await store.fan_out([(delivered_to, event.id)], 1)
    attempt = {"at": "2026-11-22T10:00:00Z", "status_code": 200, "error": None, "latency_ms": 12}
    await store.record(delivered_to, [Outcome(event.id, DELIVERED, None, attempt, subscriber_ok=True)])
    page = await client.get(f"/console/events/{event.id}")
    assert page.status_code == 200
    assert '<pre id="event-body">{\n  &#34;id&#34;: &#34;' + event.id in page.text
    assert '<dd id="trace-id">none</dd>' in page.text
    deliveries = page.text[page.text.index('id="deliveries"') :]
    assert re.findall(r'class="delivery" data-subscription-id="([^"]+)"', deliveries) == [delivered_to]
    assert deliveries.count('<tr class="attempt">') == 1
    assert "12 ms" in deliveries
    assert ">200<" in deliveries


async def test_values_from_providers_and_subscribers_are_shown_as_text(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    event_id = await log_invoice(redis, "shop", 1, description=SCRIPT, invoice_id=SCRIPT)
    subscription_id = await subscribe(client, admin, description=SCRIPT)
    pages = [
        "/console",
        "/console/events",
        f"/console/events/{event_id}",
        "/console/subscriptions",
        f"/console/subscriptions/{subscription_id}",
        f"/console/subscriptions/{subscription_id}/delete",
    ]
    for path in pages:
        page = (await client.get(path)).text
        assert "alert(" not in page or "&lt;script&gt;alert(" in page, path
        assert "<script>alert" not in page, path
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in (await client.get("/console/subscriptions")).text


async def test_every_console_answer_carries_the_csp(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    event = (await log_events(redis, "shop", 1))[0].change.event
    assert event is not None
    subscription_id = await subscribe(client, admin)
    paths = [
        "/console",
        "/console/sign-in",
        "/console/events",
        f"/console/events/{event.id}",
        "/console/events/evt_missing",
        "/console/fragments/recent-events",
        "/console/subscriptions",
        "/console/subscriptions/new",
        f"/console/subscriptions/{subscription_id}",
        "/console/subscriptions/sub_missing",
        "/console/static/console.css",
        "/console/static/console.js",
        "/console/no-such-page",
    ]
    for path in paths:
        response = await client.get(path)
        assert response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-frame-options"] == "DENY"
    posted = await client.post("/console/accounts/shop/sync", data={"csrf": await csrf(client)})
    assert posted.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    signed_out = httpx.AsyncClient(transport=client._transport, base_url="http://relay.test")
    redirect = await signed_out.get("/console")
    assert redirect.status_code == 303
    assert redirect.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "content-security-policy" not in (await client.get("/healthz")).headers


async def test_pages_hold_nothing_inline_and_load_only_their_own_files(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    event = (await log_events(redis, "shop", 1))[0].change.event
    assert event is not None
    subscription_id = await subscribe(client, admin)
    for path in ("/console", "/console/events", f"/console/events/{event.id}", "/console/subscriptions/new",
                 f"/console/subscriptions/{subscription_id}", "/console/sign-in"):  # fmt: skip
        page = (await client.get(path)).text
        assert re.findall(r"<script(?![^>]*\ssrc=\"/console/static/)[^>]*>", page) == [], path
        assert " style=" not in page, path
        assert "<style" not in page, path
        assert re.findall(r' on[a-z]+="', page) == [], path
        for src in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page):
            assert (await client.get(src)).status_code == 200, src
    htmx = await client.get("/console/static/htmx-2.0.11.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text
    assert (await client.get("/console/static/htmx-LICENSE.txt")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/console/events/evt_missing",
        "/console/subscriptions/sub_missing",
        "/console/subscriptions/sub_missing/delete",
    ],
)
async def test_unknown_ids_answer_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert 'id="not-found"' in response.text


@pytest.mark.parametrize("action", ["edit", "enable", "disable", "rotate-secret", "delete", "replay", "recover"])
async def test_actions_on_an_unknown_subscription_answer_404(client: httpx.AsyncClient, action: str) -> None:
    response = await client.post(f"/console/subscriptions/sub_missing/{action}", data={"csrf": await csrf(client)})
    assert response.status_code == 404
