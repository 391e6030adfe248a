"""Delivery controls end to end: a subscription's rate limit across two worker processes, per-invoice
ordering under retries, replays and a killed worker, and a rotated secret signing at once. Real subscriber
servers on loopback; the relay's own processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from tests.e2e.test_delivery import Source, deliveries, payload, stack_with, subscribe, verified, wait_deliveries
from tests.support.procs import Valkey
from tests.support.relay import Sandbox
from tests.support.subscriber import Answer, Received, Subscriber, subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    with subscriber_server() as server:
        yield server


def most_in_any_window(arrivals: Sequence[Received], seconds: float) -> int:
    """The most requests that arrived within any `seconds`-long window."""
    times = sorted(r.at for r in arrivals)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def within_limit(rate: int, seconds: float, jitter_s: float = 0.2) -> int:
    """The most deliveries a `rate`-per-second limit lets arrive in `seconds`: its burst (a tenth of a second's
    worth) and `jitter_s` of arrivals bunched on the way included."""
    return int(rate * (seconds + jitter_s)) + rate // 10 + 1


def test_rate_limit_holds_across_two_workers_and_changes_live(sandbox: Sandbox, subscriber: Subscriber) -> None:
    rate, events = 20, 160
    with Valkey() as redis, stack_with(sandbox, redis.url, ["rl"]) as relay:
        relay.start_worker()  # two worker processes claim for the same subscription
        source = Source(sandbox, relay, "rl")
        limited = subscribe(relay, subscriber.url("/limited"), rate_limit=rate)
        free = subscribe(relay, subscriber.url("/free"))
        source.emit(events)
        wait_until(lambda: len(subscriber.on("/free")) >= events or None, timeout=30, what="the unlimited deliveries")
        # The unlimited subscription was not held up by the other's limit: all of it arrived while the limited
        # one was still at its first few seconds' worth.
        assert len(subscriber.on("/limited")) < events / 2
        wait_until(lambda: len(subscriber.on("/limited")) >= 3 * rate or None, timeout=10, what="three seconds' worth")
        before = subscriber.on("/limited")
        patched = relay.http.patch(f"/subscriptions/{limited['id']}", json={"rate_limit": 4 * rate})
        assert patched.json()["rate_limit"] == 4 * rate
        wait_until(lambda: len(subscriber.on("/limited")) >= events or None, timeout=20, what="every limited delivery")
        arrivals = subscriber.on("/limited")
        after = arrivals[len(before) + 10 :]  # past requests claimed before the PATCH landed

        # Never more than two seconds' rate plus the documented burst (a tenth of a second's worth) in any two
        # seconds, give or take a fifth of a second of jitter on the way (a loaded machine bunches arrivals: two
        # workers each keeping a limit of their own would be twice the rate).
        assert most_in_any_window(before, 2.0) <= within_limit(rate, 2.0)
        assert most_in_any_window(after, 2.0) <= within_limit(4 * rate, 2.0)
        # ... and close to the rate over the whole run: throttled, not starved.
        span = before[-1].at - before[0].at
        assert rate * 0.8 <= (len(before) - 1) / span <= rate * 1.1
        faster = (after[-1].at - after[0].at) / (len(after) - 1)
        assert faster < 1 / (2 * rate)  # the new rate applied live
        # Throttling used up no attempt: one attempt each, every one delivered.
        rows = wait_deliveries(relay, limited["id"], "delivered", count=events)
        assert [len(row["attempts"]) for row in rows] == [1] * events
        assert len({r.headers["webhook-id"] for r in arrivals}) == len(arrivals) == events
        assert deliveries(relay, free["id"], "pending") == []


def test_a_rotated_secret_signs_the_very_next_delivery(sandbox: Sandbox, subscriber: Subscriber) -> None:
    """Rotate, then at once make a delivery due (a replay, due at the worker's next look at the queue, within
    0.1 s): it carries both signatures, though the worker's periodic reload of subscriptions (every 0.25 s)
    may not have come yet. Five rounds, so that a worker signing with a copy a moment old is caught."""
    with Valkey() as redis, stack_with(sandbox, redis.url, ["rot2"]) as relay:
        source = Source(sandbox, relay, "rot2")
        sub = subscribe(relay, subscriber.url("/rot2"), accounts=["rot2"])
        source.emit(1)
        [first] = wait_until(lambda: subscriber.on("/rot2") or None, timeout=20, what="a first delivery")
        event_id = first.headers["webhook-id"]
        secret = sub["secret"]
        for round_ in range(1, 6):
            rotated = relay.http.post(f"/subscriptions/{sub['id']}/rotate-secret").json()
            replay = relay.http.post(f"/subscriptions/{sub['id']}/replay", json={"event_ids": [event_id]})
            assert replay.json()["queued"] == 1
            received = wait_until(
                lambda n=round_: subscriber.on("/rot2")[n:] or None, timeout=10, what="the replayed delivery"
            )[0]
            signatures = received.headers["webhook-signature"].split(" ")
            assert len(signatures) == 2, signatures
            assert all(s.startswith("v1,") for s in signatures), signatures
            new_signature, old_signature = signatures
            verified(
                rotated["secret"], replace(received, headers={**received.headers, "webhook-signature": new_signature})
            )
            verified(secret, replace(received, headers={**received.headers, "webhook-signature": old_signature}))
            secret = rotated["secret"]


def build_histories(sandbox: Sandbox, source: Source, invoices: int, actions: Sequence[str]) -> None:
    """`invoices` new invoices at `source`, then each action on every one of them, a sync after each step:
    invoices * (1 + len(actions)) events, each invoice's with sequences 1, 2, ..."""
    relay, name = source.relay, source.name
    source.emit(invoices)
    for step, action in enumerate(actions, start=1):
        wait_until(
            lambda n=step: len(relay.events(account=name)) >= invoices * n or None, timeout=20, what="a step's events"
        )
        for record in sandbox.invoices(name):
            sandbox.act(name, record["id"], action)
        source.emit(0)
    wait_until(
        lambda: len(relay.events(account=name)) >= invoices * (1 + len(actions)) or None,
        timeout=20,
        what="every event",
    )


def position(received: Received) -> tuple[str, int]:
    data = payload(received)["data"]
    return data["invoice"]["key"], data["sequence"]


def sequences_by_invoice(arrivals: Sequence[Received]) -> dict[str, list[int]]:
    """Each invoice's sequences in the order its requests arrived (retries and repeats included)."""
    found: dict[str, list[int]] = {}
    for received in sorted(arrivals, key=lambda r: r.at):
        invoice, sequence = position(received)
        found.setdefault(invoice, []).append(sequence)
    return found


def assert_in_order(arrivals: Sequence[Received], invoices: int, length: int) -> None:
    by_invoice = sequences_by_invoice(arrivals)
    assert len(by_invoice) == invoices
    for invoice, sequences in by_invoice.items():
        assert sequences == sorted(sequences), f"{invoice} arrived out of order: {sequences}"
        assert set(sequences) == set(range(1, length + 1)), f"{invoice}: {sequences}"


ORDERED_ENV = {"RELAY_RETRY_SCHEDULE": "1,1,1,1,1,1,1,1,1"}


def test_invoice_order_holds_through_retries_and_a_replay(sandbox: Sandbox, subscriber: Subscriber) -> None:
    invoices, actions = 6, ("partial", "pay", "refund")
    length = 1 + len(actions)
    # Every third of the first 24 requests fails: at most 8 failures for any one delivery, fewer than its 10
    # attempts, so every event is delivered in the end, some after several retries a second apart.
    script = [Answer(500), Answer(200), Answer(200)] * 8
    subscriber.script("/ordered", *script, default=Answer(delay=0.05))
    with Valkey() as redis, stack_with(sandbox, redis.url, ["ord"], env=ORDERED_ENV) as relay:
        relay.start_worker()  # two workers: the order is kept in Redis, not in one process
        source = Source(sandbox, relay, "ord")
        sub = subscribe(relay, subscriber.url("/ordered"), accounts=["ord"], ordering="invoice")
        build_histories(sandbox, source, invoices, actions)
        events = invoices * length
        wait_deliveries(relay, sub["id"], "delivered", count=events, timeout=60)
        arrivals = subscriber.on("/ordered")
        assert_in_order(arrivals, invoices, length)

        # While an invoice waited for a retry (a second), other invoices' requests went on.
        failed = [arrivals[n] for n in range(0, len(script), 3)]
        overtaken = 0
        for refused in failed:
            retry = next(
                r for r in arrivals if r.at > refused.at and r.headers["webhook-id"] == refused.headers["webhook-id"]
            )
            overtaken += any(refused.at < r.at < retry.at and position(r)[0] != position(refused)[0] for r in arrivals)
        assert overtaken == len(failed)

        # A replay of everything goes in the same order.
        replay = relay.http.post(f"/subscriptions/{sub['id']}/replay", json={"since": "2000-01-01T00:00:00Z"})
        assert replay.json()["queued"] == events
        wait_until(lambda: len(subscriber.on("/ordered")) >= len(arrivals) + events or None, timeout=30)
        assert_in_order(subscriber.on("/ordered")[len(arrivals) :], invoices, length)


def test_invoice_order_holds_when_a_worker_is_killed_mid_delivery(sandbox: Sandbox, subscriber: Subscriber) -> None:
    invoices, actions = 5, ("partial", "pay")
    length = 1 + len(actions)
    subscriber.script("/ordered-kill", default=Answer(delay=1.0))
    env = {**ORDERED_ENV, "RELAY_DELIVERY_TIMEOUT": "2"}  # a lease of 12 s
    with Valkey() as redis, stack_with(sandbox, redis.url, ["ordk"], env=env) as relay:
        source = Source(sandbox, relay, "ordk")
        build_histories(sandbox, source, invoices, actions)
        sub = subscribe(relay, subscriber.url("/ordered-kill"), accounts=["ordk"], ordering="invoice")
        replay = relay.http.post(f"/subscriptions/{sub['id']}/replay", json={"since": "2000-01-01T00:00:00Z"})
        assert replay.json()["queued"] == invoices * length
        # Every invoice's first delivery is on the wire (answered after a second): kill the worker now.
        wait_until(lambda: len(subscriber.on("/ordered-kill")) >= invoices or None, timeout=10, what="the heads")
        relay.workers[0].kill()
        assert deliveries(relay, sub["id"], "delivered") == []
        relay.start_worker()
        wait_deliveries(relay, sub["id"], "delivered", count=invoices * length, timeout=60)
        arrivals = subscriber.on("/ordered-kill")
        assert_in_order(arrivals, invoices, length)
        # The killed attempts were made again (at least once), before anything later of their invoice.
        assert all(sequences[:2] == [1, 1] for sequences in sequences_by_invoice(arrivals).values())
