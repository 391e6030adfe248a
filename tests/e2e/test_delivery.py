"""Delivery end to end: real subscriber servers on loopback; signatures checked with `standardwebhooks`."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.subscriber import Answer, Subscriber, subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ACCOUNT = "dlv"
EVENTS = 6


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    with subscriber_server() as server:
        yield server


def subscribe(relay: Relay, url: str, **fields: Any) -> dict[str, Any]:
    response = relay.http.post("/subscriptions", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def verified(secret: str, received: Any) -> dict[str, Any]:
    """The body, once the reference library accepts the signature."""
    return dict(Webhook(secret).verify(received.body, received.headers))


def deliveries(relay: Relay, subscription_id: str, status: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 1000, **({"status": status} if status else {})}
    response = relay.http.get(f"/subscriptions/{subscription_id}/deliveries", params=params)
    return list(response.raise_for_status().json()["deliveries"])


def wait_deliveries(
    relay: Relay, subscription_id: str, status: str | None = None, *, count: int = 1, timeout: float = 20
) -> list[dict[str, Any]]:
    """Wait until at least `count` deliveries (in `status`) have at least one attempt."""

    def enough() -> list[dict[str, Any]] | None:
        rows = [row for row in deliveries(relay, subscription_id, status) if row["attempts"]]
        return rows if len(rows) >= count else None

    return wait_until(enough, timeout=timeout, what=f"{count} {status or ''} deliveries")


def payload(received: Any) -> dict[str, Any]:
    return dict(json.loads(received.body))


class Source:
    """An account at the sandbox whose invoices produce events on demand."""

    def __init__(self, sandbox: Sandbox, relay: Relay, name: str, provider: str = "smsonline") -> None:
        self.sandbox, self.relay, self.name = sandbox, relay, name
        create_sandbox_account(sandbox, name, provider, count=0)

    def emit(self, count: int) -> None:
        for _ in range(count):
            self.sandbox.new_invoice(self.name, amount=1250)
        response = self.relay.http.post(f"/webhooks/{self.name}", headers={"authorization": f"Bearer {NUDGE}"})
        assert response.status_code == 202


def stack_with(sandbox: Sandbox, redis_url: str, names: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    toml = "\n".join(account_table(name, "smsonline", sandbox.url) for name in names)
    base = {"RELAY_RETRY_SCHEDULE": "1,1", "RELAY_DELIVERY_TIMEOUT": "1"}
    return relay_stack(redis_url, toml, env={**base, **(env or {})})


@pytest.fixture(scope="module")
def shared_relay(sandbox: Sandbox) -> Iterator[Relay]:
    """One relay for the tests with the base settings, each on accounts and subscriber paths of its own (the
    others need settings of their own, kill a worker, or a relay that starts with them). A Redis of its own:
    the relay outlives one test, and the function-scoped database is flushed for each."""
    accounts = ["ok1", "rt", "dl", "rot", "fa", "fb"]
    with Valkey() as redis, stack_with(sandbox, redis.url, accounts) as running:
        yield running


@pytest.fixture
def relay(shared_relay: Relay) -> Iterator[Relay]:
    """The shared relay; the test's subscriptions are deleted after it, so that the next test's events go to
    its own subscriptions only, as on a relay of its own."""
    yield shared_relay
    for subscription in shared_relay.http.get("/subscriptions").raise_for_status().json()["subscriptions"]:
        shared_relay.http.delete(f"/subscriptions/{subscription['id']}").raise_for_status()


def test_success_signed_and_logged(sandbox: Sandbox, relay: Relay, subscriber: Subscriber) -> None:
    source = Source(sandbox, relay, "ok1")
    sub = subscribe(relay, subscriber.url("/ok1"))
    source.emit(EVENTS)
    wait_until(lambda: len(subscriber.on("/ok1")) >= EVENTS or None, timeout=20, what="deliveries")
    logged = {e["id"]: e for e in relay.events(account="ok1")}
    for received in subscriber.on("/ok1"):
        body = verified(sub["secret"], received)
        assert received.headers["webhook-id"] == body["id"]
        assert body == logged[body["id"]]
        assert received.headers["Content-Type"] == "application/json"
        assert received.headers["User-Agent"].startswith("invoice-relay/")
    rows = wait_deliveries(relay, sub["id"], "delivered", count=EVENTS)
    assert len(rows) == EVENTS
    assert all(row["attempts"][0]["status_code"] == 200 for row in rows)
    assert all(row["attempts"][0]["latency_ms"] >= 0 for row in rows)


def test_failures_retry_with_the_same_id(sandbox: Sandbox, relay: Relay, subscriber: Subscriber) -> None:
    subscriber.script("/flaky", Answer(500))
    subscriber.script("/slow", Answer(delay=3))
    subscriber.script("/moved", default=Answer(301, {"Location": subscriber.url("/elsewhere")}))
    subscriber.script("/later", Answer(429, {"Retry-After": "2"}))
    source = Source(sandbox, relay, "rt")
    subs = {path: subscribe(relay, subscriber.url(path)) for path in ("/flaky", "/slow", "/moved", "/later")}
    source.emit(1)
    wait_until(lambda: len(subscriber.on("/flaky")) >= 2 or None, timeout=20, what="a retry after a 500")
    first, second = subscriber.on("/flaky")[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verified(subs["/flaky"]["secret"], second)

    wait_until(lambda: len(subscriber.on("/slow")) >= 2 or None, timeout=20, what="a retry after a timeout")
    row = wait_deliveries(relay, subs["/slow"]["id"])[0]
    assert row["attempts"][0]["status_code"] is None
    assert "timed out" in row["attempts"][0]["error"]

    # A redirect is a failed attempt: never followed, retried on the schedule, then given up.
    wait_deliveries(relay, subs["/moved"]["id"], "failed")
    assert subscriber.on("/elsewhere") == []
    assert [a["status_code"] for a in deliveries(relay, subs["/moved"]["id"])[0]["attempts"]] == [301, 301, 301]

    wait_until(lambda: len(subscriber.on("/later")) >= 2 or None, timeout=20, what="a retry after a 429")
    limited, retried = subscriber.on("/later")[:2]
    assert retried.at - limited.at >= 1.8  # Retry-After: 2 wins over the schedule's 1 s


def test_410_disables_the_subscription(sandbox: Sandbox, redis_url: str, subscriber: Subscriber) -> None:
    # Answered slowly, so that all twelve attempts are in flight together when the 410s come back. A relay of
    # its own: on the shared one the subscription was at times disabled with one attempt recorded, not twelve.
    subscriber.script("/gone", default=Answer(410, delay=0.3))
    with stack_with(sandbox, redis_url, ["gone"]) as relay:
        source = Source(sandbox, relay, "gone")
        sub = subscribe(relay, subscriber.url("/gone"))
        source.emit(12)
        wait_until(lambda: relay.http.get(f"/subscriptions/{sub['id']}").json()["enabled"] is False or None, timeout=20)
        wait_deliveries(relay, sub["id"], "failed", count=12)
        assert deliveries(relay, sub["id"], "pending") == []
        seen = len(subscriber.on("/gone"))
        source.emit(1)
        wait_until(lambda: len(relay.events(account="gone")) == 13 or None, what="the next event")
        assert len(subscriber.on("/gone")) == seen  # nothing more goes to a disabled subscription
        assert relay.logs().count('"subscription_disabled"') == 1


def test_a_dead_subscriber_does_not_delay_a_healthy_one(
    sandbox: Sandbox, redis_url: str, subscriber: Subscriber
) -> None:
    subscriber.script("/hang", default=Answer(delay=30))
    with stack_with(sandbox, redis_url, ["iso"], env={"RELAY_DELIVERY_TIMEOUT": "10"}) as relay:
        source = Source(sandbox, relay, "iso")
        dead = subscribe(relay, subscriber.url("/hang"))
        subscribe(relay, subscriber.url("/healthy"))
        source.emit(20)
        wait_until(lambda: len(subscriber.on("/healthy")) >= 20 or None, timeout=20, what="healthy deliveries")
        # An attempt at the dead one ends only when it times out (10 s): none has ended yet, so no healthy
        # delivery waited behind one.
        assert [row for row in deliveries(relay, dead["id"]) if row["attempts"]] == []
        # The dead one is being tried meanwhile (its lane starts beside the healthy one's, not before it).
        wait_until(lambda: subscriber.on("/hang") or None, timeout=5, what="an attempt at the dead subscriber")


def test_dead_letter_then_replay(sandbox: Sandbox, relay: Relay, subscriber: Subscriber) -> None:
    subscriber.script("/dl", Answer(500), Answer(500), Answer(500))
    source = Source(sandbox, relay, "dl")
    sub = subscribe(relay, subscriber.url("/dl"), accounts=["dl"])  # its replay "since" sees only its events
    source.emit(1)
    failed = wait_deliveries(relay, sub["id"], "failed")
    event_id = failed[0]["event_id"]
    assert len(failed[0]["attempts"]) == 3
    replay = relay.http.post(f"/subscriptions/{sub['id']}/replay", json={"event_ids": [event_id]})
    assert replay.status_code == 202
    assert replay.json()["queued"] == 1
    wait_deliveries(relay, sub["id"], "delivered")
    assert subscriber.on("/dl")[-1].headers["webhook-id"] == event_id
    since = relay.http.post(f"/subscriptions/{sub['id']}/replay", json={"since": "2000-01-01T00:00:00Z"})
    assert since.json()["queued"] == 1
    wait_until(lambda: len(subscriber.on("/dl")) == 5 or None, timeout=20, what="second replay")


def test_rotation_signs_with_both_secrets(sandbox: Sandbox, relay: Relay, subscriber: Subscriber) -> None:
    """Inside the 24 h overlap a delivery carries two signatures: the new secret's, and the old one's for a
    subscriber not yet switched. When the old one stops signing is `Subscription.signing_keys`'s unit test."""
    source = Source(sandbox, relay, "rot")
    sub = subscribe(relay, subscriber.url("/rot"))
    rotated = relay.http.post(f"/subscriptions/{sub['id']}/rotate-secret").json()
    assert rotated["secret"] != sub["secret"]
    overlap_ends = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert abs(overlap_ends - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    source.emit(1)
    received = wait_until(lambda: subscriber.on("/rot") or None, timeout=20, what="a delivery")[0]
    assert verified(sub["secret"], received) == verified(rotated["secret"], received)
    # One signature per secret, the new one first: each verifies with its own secret only.
    new_signature, old_signature = received.headers["webhook-signature"].split(" ")
    by_new = replace(received, headers={**received.headers, "webhook-signature": new_signature})
    by_old = replace(received, headers={**received.headers, "webhook-signature": old_signature})
    assert verified(rotated["secret"], by_new) == verified(sub["secret"], by_old) == payload(received)
    for secret, other_signature in ((rotated["secret"], by_old), (sub["secret"], by_new)):
        with pytest.raises(WebhookVerificationError):
            verified(secret, other_signature)
    wrong = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError, match="signature"):
        verified(wrong, received)


def test_filters(sandbox: Sandbox, relay: Relay, subscriber: Subscriber) -> None:
    a, b = Source(sandbox, relay, "fa"), Source(sandbox, relay, "fb")
    subscribe(relay, subscriber.url("/only-fb"), accounts=["fb"])
    subscribe(relay, subscriber.url("/only-paid"), event_types=["invoice.paid"])
    subscribe(relay, subscriber.url("/all-invoice"), event_types=["invoice.*"])
    a.emit(2)
    b.emit(3)
    wait_until(lambda: len(subscriber.on("/all-invoice")) >= 5 or None, timeout=20, what="all events")
    paid_invoice = sandbox.invoices("fa")[0]["id"]
    sandbox.act("fa", paid_invoice, "pay")
    a.emit(0)
    wait_until(lambda: len(subscriber.on("/all-invoice")) >= 6 or None, timeout=20, what="the paid event")
    wait_until(lambda: len(subscriber.on("/only-paid")) >= 1 or None, timeout=5, what="the paid event")
    wait_until(lambda: len(subscriber.on("/only-fb")) >= 3 or None, timeout=10, what="fb's events")
    accounts = Counter(payload(r)["data"]["invoice"]["account"] for r in subscriber.on("/only-fb"))
    assert accounts == Counter({"fb": 3})
    types = [payload(r)["type"] for r in subscriber.on("/only-paid")]
    assert types == ["invoice.paid"]


def test_a_worker_killed_mid_delivery_still_delivers_everything(
    sandbox: Sandbox, redis_url: str, subscriber: Subscriber
) -> None:
    subscriber.script("/killed", default=Answer(delay=1.0))
    with stack_with(sandbox, redis_url, ["kd"], env={"RELAY_DELIVERY_TIMEOUT": "2"}) as relay:
        source = Source(sandbox, relay, "kd")
        sub = subscribe(relay, subscriber.url("/killed"))
        source.emit(150)
        wait_until(lambda: len(subscriber.on("/killed")) >= 64 or None, timeout=30, what="deliveries under way")
        relay.workers[0].kill()
        assert len(deliveries(relay, sub["id"], "delivered")) < 150, "the kill must land mid-delivery"
        relay.start_worker()
        logged = {event["id"] for event in relay.events(account="kd")}
        assert len(logged) == 150

        def all_received() -> bool:
            return {r.headers["webhook-id"] for r in subscriber.on("/killed")} >= logged

        wait_until(all_received, timeout=60, what="every event at the subscriber")
        for received in subscriber.on("/killed"):
            body = verified(sub["secret"], received)
            assert body["id"] == received.headers["webhook-id"]  # a duplicate only ever under its own id
        assert wait_deliveries(relay, sub["id"], "delivered", count=150, timeout=30)


def test_delivery_concurrency_bounds_requests_in_flight(
    sandbox: Sandbox, redis_url: str, subscriber: Subscriber
) -> None:
    answer_after = 1.0
    subscriber.script("/narrow", default=Answer(delay=answer_after))
    with stack_with(
        sandbox, redis_url, ["narrow"], env={"RELAY_DELIVERY_CONCURRENCY": "4", "RELAY_DELIVERY_TIMEOUT": "5"}
    ) as relay:
        source = Source(sandbox, relay, "narrow")
        subscribe(relay, subscriber.url("/narrow"))
        source.emit(8)
        wait_until(lambda: len(subscriber.on("/narrow")) >= 8 or None, timeout=20, what="eight deliveries")
        arrivals = sorted(r.at for r in subscriber.on("/narrow"))
        # No request is answered sooner than `answer_after` after it arrived. Four were in flight at once (the
        # fourth arrived before the first could be answered), and a fifth only after one of them was answered.
        assert arrivals[3] - arrivals[0] < answer_after
        assert arrivals[4] - arrivals[0] >= answer_after
