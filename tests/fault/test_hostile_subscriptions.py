"""Hostile input on `/subscriptions`: SSRF targets refused on POST and PATCH, arbitrary bodies never a 500.

In process (the app over httpx.ASGITransport, RELAY_ALLOW_PRIVATE_URLS false) against a real Valkey.

Redirects: a subscriber that answers 3xx towards a private address is not followed. The relay never follows
a redirect when it delivers (workers/webhook_client.py has no notion of redirects); end to end this is
tests/e2e/test_delivery.py::test_failures_retry_with_the_same_id (a 301 subscriber: every attempt is a failed
301, its target never gets a request). `test_the_sender_does_not_follow_redirects` below checks the sender
itself against a real local server answering 302/307/308 to 127.0.0.1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from contracts.changes import detect_change
from contracts.model import Invoice, Status
from service.state.eventlog import EventLog, PendingChange
from service.state.keys import SUBSCRIPTIONS
from tests.support.subscriber import Answer, subscriber_server
from workers.delivery.webhook_client import WebhookClient
from workers.delivery.webhook_sender import send_event

pytestmark = pytest.mark.fault

PUBLIC_URL = "http://93.184.216.34/hooks/invoices"  # an IP literal: resolves without DNS

SSRF_URLS = {
    "loopback": "http://127.0.0.1/hook",
    "loopback-port": "http://127.0.0.1:6379/",
    "loopback-other": "http://127.8.9.10/",
    "private-10": "http://10.0.0.1/",
    "private-172": "http://172.16.5.4/",
    "private-192": "http://192.168.1.1/",
    "cgnat": "http://100.64.0.1/",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "metadata-https": "https://169.254.169.254/",
    "metadata-v6": "http://[fd00:ec2::254]/latest/meta-data/",
    "link-local-v6": "http://[fe80::1]/",
    "v6-loopback": "http://[::1]/",
    "v6-loopback-port": "http://[::1]:8080/hook",
    "v6-mapped": "http://[::ffff:127.0.0.1]/",
    "v6-mapped-long": "http://[0:0:0:0:0:ffff:7f00:1]/",
    "v6-mapped-hex": "http://[::ffff:7f00:1]/",
    "v6-mapped-metadata": "http://[::ffff:a9fe:a9fe]/",
    "v6-unspecified": "http://[::]/",
    "decimal": "http://2130706433/",
    "hex": "http://0x7f000001/",
    "hex-dotted": "http://0x7f.0.0.1/",
    "octal": "http://0177.0.0.1/",
    "short": "http://127.1/",
    "short-private": "http://10.1/",
    "zero": "http://0.0.0.0/",
    "zero-short": "http://0/",
    "localhost": "http://localhost/",
    "localhost-upper": "http://LOCALHOST:8000/",
    "localhost-dot": "http://localhost./",
    "localhost-sub": "http://relay.localhost/",
    "userinfo-at-loopback": "http://evil@127.0.0.1/",
    "userinfo-public-at-loopback": "http://93.184.216.34@127.0.0.1/",
    "userinfo-password": "http://user:pass@93.184.216.34/",
    "userinfo-backslash": "http://93.184.216.34\\@127.0.0.1/",
    "fragment-at": "http://127.0.0.1#@example.com/",
    "query-at": "http://127.0.0.1?@example.com/",
    "overlong": "http://93.184.216.34/" + "a" * 2100,
    "file": "file:///etc/passwd",
    "gopher": "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp": "ftp://93.184.216.34/",
    "javascript": "javascript:alert(1)",
    "data": "data:text/plain,hello",
    "dict": "dict://127.0.0.1:11211/",
    "no-host": "http:///hook",
    "scheme-relative": "//93.184.216.34/",
    "bad-port": "http://93.184.216.34:99999/",
    "bad-bracket": "http://[::1/",
    "empty": "",
}
#: Why each is refused (a word of the error detail), where it does not depend on the resolver.
REASONS = {
    "userinfo": "credentials",
    "overlong": "2048 characters",
    "empty": "2048 characters",
    "file": "http or https",
    "gopher": "http or https",
    "ftp": "http or https",
    "javascript": "http or https",
    "data": "http or https",
    "dict": "http or https",
    "scheme-relative": "http or https",
    "no-host": "name a host",
    "bad-port": "invalid port",
    "bad-bracket": "not a valid URL",
    "localhost-": "",  # refused as loopback, or as not resolving, depending on the resolver
}
ADDRESS_REFUSAL = "loopback, private, link-local or reserved"


def reason(name: str) -> str:
    return next((why for prefix, why in REASONS.items() if name.startswith(prefix)), ADDRESS_REFUSAL)


NOT_STRINGS: list[Any] = [None, 1, True, ["http://93.184.216.34/"], {"url": PUBLIC_URL}]


async def create(client: httpx.AsyncClient, admin: dict[str, str], **fields: Any) -> httpx.Response:
    return await client.post("/subscriptions", json={"url": PUBLIC_URL, **fields}, headers=admin)


async def stored(redis: Redis) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in (await redis.hgetall(SUBSCRIPTIONS)).values()]


@pytest.mark.parametrize(("name", "url"), SSRF_URLS.items(), ids=SSRF_URLS.keys())
async def test_ssrf_targets_are_refused_on_create(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, name: str, url: str
) -> None:
    response = await create(client, admin, url=url)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_subscription"
    assert reason(name) in response.json()["detail"]
    assert await stored(redis) == []


@pytest.mark.parametrize("url", SSRF_URLS.values(), ids=SSRF_URLS.keys())
async def test_ssrf_targets_are_refused_on_patch(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, url: str
) -> None:
    created = await create(client, admin)
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    response = await client.patch(f"/subscriptions/{sub_id}", json={"url": url, "enabled": True}, headers=admin)
    assert response.status_code == 400, response.text
    assert [s["url"] for s in await stored(redis)] == [PUBLIC_URL]


@pytest.mark.parametrize("url", NOT_STRINGS, ids=repr)
async def test_urls_that_are_not_strings_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, url: Any
) -> None:
    assert (await create(client, admin, url=url)).status_code == 400
    assert await stored(redis) == []


async def test_a_public_target_is_accepted(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """The control: the refusals above are not everything being refused."""
    for url in (PUBLIC_URL, "https://93.184.216.34:8443/x?y=1#z", "http://[2606:4700:4700::1111]/"):
        response = await create(client, admin, url=url)
        assert response.status_code == 201, response.text
        assert response.json()["url"] == url


@pytest.mark.parametrize("status", [302, 307, 308])
async def test_the_sender_does_not_follow_redirects(status: int) -> None:
    """A subscriber answering 3xx towards 127.0.0.1: the attempt fails with that status; the target gets nothing.

    The client allows private addresses (both servers are on loopback), so only not following redirects stands
    between the redirect and its target; a client that follows them proves the set-up would reach it.
    """
    with subscriber_server() as target, subscriber_server() as subscriber:
        subscriber.script("/hook", default=Answer(status, {"Location": target.url("/internal")}))
        client = WebhookClient(allow_private=True, timeout=5)
        try:
            result = await send_event(
                client, subscriber.url("/hook"), event_id="evt_redirect", body=b"{}", keys=[b"k" * 32]
            )
        finally:
            await client.close()
        assert result.status_code == status
        assert not result.succeeded
        assert result.error == f"HTTP {status}"
        assert len(subscriber.on("/hook")) == 1
        assert target.received == []
        # The control: the same request, with redirects followed, does reach the target.
        async with httpx.AsyncClient(follow_redirects=True) as following:
            followed = await following.post(subscriber.url("/hook"), content=b"{}")
        assert followed.status_code == 200
        assert len(target.on("/internal")) == 1


async def test_the_sender_refuses_a_private_address_it_is_handed() -> None:
    """Defence in depth: a stored URL that points (or now resolves) inside is refused when connecting, names and
    IP literals alike. Such a URL gets stored when RELAY_ALLOW_PRIVATE_URLS was true at creation and is false now."""
    with subscriber_server() as inside:
        client = WebhookClient(allow_private=False, timeout=5)
        try:
            for host in ("localhost", "127.0.0.1", "[::ffff:127.0.0.1]"):
                url = f"http://{host}:{inside.port}/hook"
                result = await send_event(client, url, event_id="evt_x", body=b"{}", keys=[b"k" * 32])
                assert result.status_code is None, host
                assert result.error is not None
                assert result.error.startswith("refused:"), result.error
        finally:
            await client.close()
        assert inside.received == []
        # The control: allowed, the same URLs reach the subscriber.
        client = WebhookClient(allow_private=True, timeout=5)
        try:
            for host in ("127.0.0.1", "[::ffff:127.0.0.1]"):
                url = f"http://{host}:{inside.port}/hook"
                result = await send_event(client, url, event_id="evt_x", body=b"{}", keys=[b"k" * 32])
                assert result.status_code == 200, host
        finally:
            await client.close()
        assert len(inside.received) == 2


# --- arbitrary bodies: never a 500 ------------------------------------------------------------------

FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
near_urls = st.sampled_from([*SSRF_URLS.values(), PUBLIC_URL, "http://93.184.216.34/\ud800", "http://\ud800/"])
near_types = st.sampled_from(["*", "invoice.*", "invoice.paid", "invoice.nope", "", "*.*", "INVOICE.PAID"])
near_accounts = st.sampled_from(["*", "shop", "sp", "SHOP", "nobody", "", "shop\x00"])
near_times = st.sampled_from(
    [
        "2020-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "0001-01-01T00:00:00+03:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59Z",
        "1960-05-05",
        "2020-02-30T00:00:00Z",
        "now",
        "",
        " ",
    ]
)
field_values = st.one_of(
    json_values,
    near_urls,
    st.lists(near_types | near_accounts | st.text(max_size=10), max_size=120),
    near_times,
    st.text(max_size=1100),
)


@st.composite
def documents(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    names = ["url", "event_types", "accounts", "description", "enabled", "since", "event_ids", "secret", "id", ""]
    keys = draw(st.lists(st.sampled_from(names), unique=True, max_size=5))
    return {key: draw(field_values) for key in keys}


#: Documents near valid ones, so that the success paths (201, 200, 202) are exercised too.
plausible_documents = st.fixed_dictionaries(
    {},
    optional={
        "url": st.just(PUBLIC_URL) | near_urls,
        "event_types": st.lists(near_types, min_size=1, max_size=3),
        "accounts": st.lists(near_accounts, min_size=1, max_size=3),
        "description": st.none() | st.text(max_size=40),
        "enabled": st.booleans(),
    },
)
valid_creates = st.fixed_dictionaries(
    {"url": st.just(PUBLIC_URL)},
    optional={
        "event_types": st.lists(st.sampled_from(["*", "invoice.*", "invoice.paid", "invoice.created"]), min_size=1),
        "accounts": st.lists(st.sampled_from(["*", "shop", "sp", "sms"]), min_size=1, max_size=5),
        "description": st.none() | st.text(max_size=40),
    },
)
replay_documents = st.one_of(
    st.fixed_dictionaries({"since": near_times | st.datetimes().map(lambda moment: moment.isoformat() + "Z")}),
    st.fixed_dictionaries({"event_ids": st.lists(st.text(max_size=30), min_size=1, max_size=20)}),
)


def encoded(document: Any) -> bytes:
    try:
        return orjson.dumps(document)
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates, huge integers: sent as the stdlib writes them
        import json

        return json.dumps(document).encode()


raw_bodies = st.one_of(
    documents().map(encoded),
    plausible_documents.map(encoded),
    valid_creates.map(encoded),
    replay_documents.map(encoded),
    st.binary(max_size=200),
    st.sampled_from([b"", b"[]", b"{", b"null", b'"x"', b"NaN"]),
)


async def log_events(redis: Redis, account: str, count: int) -> None:
    now = datetime.now(UTC)
    invoices = [
        Invoice(
            account=account,
            provider="cryptocloud",
            invoice_id=f"INV-{n:08d}",
            status=Status.PAID if n % 2 else Status.PENDING,
            provider_status="paid" if n % 2 else "created",
            amount=Decimal("10.50"),
            amount_paid=None,
            currency="USD",
            raw={"n": n},
        )
        for n in range(count)
    ]
    changes = [
        PendingChange(inv.invoice_id, "", change)
        for inv in invoices
        if (change := detect_change(None, inv, observed_at=now)) is not None
    ]
    assert (await EventLog(redis).commit(account, changes)).logged == count


@pytest.fixture
async def subscription(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis) -> str:
    await log_events(redis, "shop", 4)
    created = await create(client, admin)
    assert created.status_code == 201
    return str(created.json()["id"])


@FUZZ
@given(body=raw_bodies)
async def test_create_never_500(client: httpx.AsyncClient, admin: dict[str, str], redis: Redis, body: bytes) -> None:
    response = await client.post("/subscriptions", content=body, headers=admin)
    event(f"status {response.status_code}")
    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        assert response.json()["secret"].startswith("whsec_")
        listed = await client.get(f"/subscriptions/{response.json()['id']}", headers=admin)
        assert listed.status_code == 200


@FUZZ
@given(body=raw_bodies, known=st.sampled_from([True, True, True, False]))
async def test_patch_never_500(
    client: httpx.AsyncClient, admin: dict[str, str], subscription: str, body: bytes, known: bool
) -> None:
    sub_id = subscription if known else "sub_nope"
    response = await client.patch(f"/subscriptions/{sub_id}", content=body, headers=admin)
    event(f"status {response.status_code}")
    assert response.status_code in ((200, 400) if known else (404,)), response.text
    after = await client.get(f"/subscriptions/{subscription}", headers=admin)
    assert after.status_code == 200
    assert not after.json()["url"].startswith(("http://127.", "http://10.", "http://169.254.", "file:"))


@FUZZ
@given(body=raw_bodies, enabled=st.sampled_from([True, True, True, False]))
async def test_replay_never_500(
    client: httpx.AsyncClient, admin: dict[str, str], subscription: str, body: bytes, enabled: bool
) -> None:
    patched = await client.patch(f"/subscriptions/{subscription}", json={"enabled": enabled}, headers=admin)
    assert patched.status_code == 200
    response = await client.post(f"/subscriptions/{subscription}/replay", content=body, headers=admin)
    event(f"status {response.status_code}")
    assert response.status_code in ((202, 400) if enabled else (409,)), response.text
    if response.status_code == 202:
        assert 0 <= response.json()["queued"] <= 4
