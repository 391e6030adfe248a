"""Retention end to end: a short RELAY_RETENTION, the sandbox as provider, real web and worker processes and
a real subscriber that is down past the horizon, then back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.times import format_time, parse_time
from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.subscriber import Answer, Subscriber, subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

RETENTION_S = 6
ENV = {
    "RELAY_RETENTION": str(RETENTION_S),
    "RELAY_RETENTION_INTERVAL": "0.5",
    # A retry about every second, for longer than the subscriber stays down (60 such retries ran out once on a
    # loaded machine, where the test took longer than a minute before the subscriber came back).
    "RELAY_RETRY_SCHEDULE": ",".join(["1"] * 300),
    "RELAY_DELIVERY_TIMEOUT": "1",
}
HELD, DONE = "ret-held", "ret-done"


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with subscriber_server() as server:
        yield server


@pytest.fixture
def relay(sandbox: Sandbox) -> Iterator[Relay]:
    toml = "\n".join(account_table(name, "smsonline", sandbox.url) for name in (HELD, DONE))
    with Valkey() as redis, relay_stack(redis.url, toml, env=ENV) as running:
        yield running


def emit(sandbox: Sandbox, relay: Relay, account: str, count: int) -> list[dict[str, Any]]:
    """`count` new invoices at the sandbox, the relay nudged to read them: their events, once logged."""
    before = {event["id"] for event in relay.events(account=account)}
    for _ in range(count):
        sandbox.new_invoice(account, amount=1250)
    response = relay.http.post(f"/webhooks/{account}", headers={"authorization": f"Bearer {NUDGE}"})
    assert response.status_code == 202

    def logged() -> list[dict[str, Any]] | None:
        new = [event for event in relay.events(account=account) if event["id"] not in before]
        return new if len(new) >= count else None

    return wait_until(logged, timeout=20, what=f"{count} events of {account}")


def subscribe(relay: Relay, url: str, **fields: Any) -> str:
    response = relay.http.post("/subscriptions", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def deliveries(relay: Relay, subscription_id: str) -> dict[str, dict[str, Any]]:
    rows = relay.http.get(f"/subscriptions/{subscription_id}/deliveries", params={"limit": 1000})
    return {row["event_id"]: row for row in rows.raise_for_status().json()["deliveries"]}


def stored(relay: Relay, event_id: str) -> bool:
    status = relay.http.get(f"/events/{event_id}").status_code
    assert status in (200, 404), status
    return status == 200


def ids(events: list[dict[str, Any]]) -> set[str]:
    return {event["id"] for event in events}


def test_events_past_the_horizon_stay_until_delivered_then_leave_and_replay_says_what_is_kept(
    sandbox: Sandbox, relay: Relay, subscriber: Subscriber
) -> None:
    for account in (HELD, DONE):
        create_sandbox_account(sandbox, account, "smsonline", count=0)
    subscriber.script("/down", default=Answer(503))
    down = subscribe(relay, subscriber.url("/down"), accounts=[HELD])
    up = subscribe(relay, subscriber.url("/up"))
    started = datetime.now(UTC)

    held = emit(sandbox, relay, HELD, 3)
    done = emit(sandbox, relay, DONE, 3)
    wait_until(lambda: len(subscriber.on("/up")) >= 6 or None, timeout=20, what="deliveries to the live subscriber")

    # The delivered events leave once past the horizon, with their delivery records.
    wait_until(
        lambda: not any(stored(relay, event_id) for event_id in ids(done)) or None,
        timeout=RETENTION_S + 15,
        what="the delivered events to leave the log",
    )
    assert not ids(done) & set(deliveries(relay, up))
    # Logged before them, so past the horizon too: kept, as the down subscriber still waits for them.
    assert all(stored(relay, event_id) for event_id in ids(held))
    assert ids(relay.events()) == ids(held)
    waiting = deliveries(relay, down)
    assert set(waiting) == ids(held)
    assert all(row["status"] == "pending" and row["attempts"] for row in waiting.values())
    assert {row["status"] for row in deliveries(relay, up).values()} == {"delivered"}
    assert subscriber.on("/down"), "the down subscriber was tried"

    # A replay from before the horizon queues what is kept, and says from when on the log holds events.
    since = started - timedelta(minutes=5)
    answer = relay.http.post(f"/subscriptions/{up}/replay", json={"since": format_time(since)})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["queued"] == len(held)
    oldest_kept = parse_time(body["oldest_kept"])
    # The oldest kept event's log time: at or after it was seen (to the millisecond), before the removed ones.
    first_held = parse_time(held[0]["timestamp"])
    assert first_held.replace(microsecond=first_held.microsecond // 1000 * 1000) <= oldest_kept
    assert oldest_kept <= parse_time(done[0]["timestamp"])
    wait_until(lambda: len(subscriber.on("/up")) >= 9 or None, timeout=20, what="the replayed deliveries")

    # Recent events stay; the down subscriber comes back and gets what it missed.
    recent = emit(sandbox, relay, DONE, 2)
    recent_at = time.monotonic()
    wait_until(lambda: len(subscriber.on("/up")) >= 11 or None, timeout=20, what="the recent events' deliveries")
    subscriber.script("/down", default=Answer(200))
    wait_until(
        lambda: {row["status"] for row in deliveries(relay, down).values()} == {"delivered"} or None,
        timeout=20,
        what="the missed events delivered once the subscriber is back",
    )
    assert {received.headers["webhook-id"] for received in subscriber.on("/down")} == ids(held)

    # Delivered and past the horizon: now they leave, from the log and from every subscription's deliveries.
    wait_until(
        lambda: not any(stored(relay, event_id) for event_id in ids(held)) or None,
        timeout=15,
        what="the events held for the down subscriber to leave the log",
    )
    assert not ids(held) & ids(relay.events())
    assert not ids(held) & set(deliveries(relay, down))
    assert not ids(held) & set(deliveries(relay, up))
    assert time.monotonic() - recent_at < RETENTION_S, "too slow to tell: the recent events passed the horizon"
    assert all(stored(relay, event_id) for event_id in ids(recent))
    assert ids(relay.events()) == ids(recent)
    assert set(deliveries(relay, up)) == ids(recent)
