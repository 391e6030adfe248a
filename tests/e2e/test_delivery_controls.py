"""Delivery controls end to end: a subscription's rate limit across two worker processes, per-invoice
ordering under retries, replays and a killed worker, and a rotated secret signing at once. Real subscriber
servers on loopback; the relay's own processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from tests.e2e.test_delivery import Source, deliveries, stack_with, subscribe, verified, wait_deliveries
from tests.support.procs import Valkey
from tests.support.relay import Sandbox
from tests.support.subscriber import Received, Subscriber, subscriber_server
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

        # Never more than a second's rate plus the documented burst (a tenth of a second's worth) in any second,
        # give or take one request's jitter on the way.
        assert most_in_any_window(before, 1.0) <= rate + rate // 10 + 1
        assert most_in_any_window(after, 1.0) <= 4 * rate + 4 * rate // 10 + 1
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
