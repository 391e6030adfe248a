"""Operational events, disabling a failing subscription, recover and the richer attempt log, end to end: real
web and worker processes (two workers: each event is raised once all the same), the sandbox, real subscribers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_delivery import Source, deliveries, payload, stack_with, subscribe, verified, wait_deliveries
from tests.support.relay import Relay, Sandbox
from tests.support.subscriber import Answer, Subscriber, subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    with subscriber_server() as server:
        yield server


def received_types(subscriber: Subscriber, path: str) -> Counter[str]:
    return Counter(payload(r)["type"] for r in subscriber.on(path))


def logged(relay: Relay, event_type: str) -> list[dict[str, Any]]:
    return relay.events(type=event_type)


def enabled(relay: Relay, subscription_id: str) -> bool:
    return bool(relay.http.get(f"/subscriptions/{subscription_id}").raise_for_status().json()["enabled"])


def test_exhausted_deliveries_are_reported_and_recover_sends_only_the_failed_ones(
    sandbox: Sandbox, redis_url: str, subscriber: Subscriber
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    with stack_with(sandbox, redis_url, ["exh"], env={"RELAY_DISABLE_AFTER": "1h"}) as relay:
        relay.start_worker()
        source = Source(sandbox, relay, "exh")
        failing = subscribe(relay, subscriber.url("/exh-bad"))
        operators = subscribe(relay, subscriber.url("/exh-ops"), event_types=["relay.*"])
        everything = subscribe(relay, subscriber.url("/exh-all"))
        # The subscriber echoes its signing secret back: the delivery log must not keep it.
        subscriber.script("/exh-bad", default=Answer(500, text=f"refused, secret={failing['secret']}"))
        source.emit(2)

        failed = wait_deliveries(relay, failing["id"], "failed", count=2)
        for row in failed:
            assert [a["status_code"] for a in row["attempts"]] == [500, 500, 500]
            assert {a["trigger"] for a in row["attempts"]} == {"scheduled"}
            assert {a["response"] for a in row["attempts"]} == {"refused, secret=[redacted]"}

        wait_until(lambda: received_types(subscriber, "/exh-ops")["relay.delivery.exhausted"] == 2 or None)
        reports = [verified(operators["secret"], r) for r in subscriber.on("/exh-ops")]
        assert {r["data"]["event_id"] for r in reports} == {row["event_id"] for row in failed}
        for report in reports:
            assert report["data"]["subscription_id"] == failing["id"]
            assert report["data"]["attempts"] == 3
            assert report["data"]["last_attempt"]["status_code"] == 500
        # Once each, though two workers ran; and `*` asked for invoice events only.
        assert len(logged(relay, "relay.delivery.exhausted")) == 2
        wait_until(lambda: len(subscriber.on("/exh-all")) >= 2 or None)
        assert set(received_types(subscriber, "/exh-all")) == {"invoice.created"}
        assert wait_deliveries(relay, everything["id"], "delivered", count=2)

        subscriber.script("/exh-bad", default=Answer(200, text="thanks"))
        source.emit(1)
        wait_deliveries(relay, failing["id"], "delivered", count=1)
        sent_before = len(subscriber.on("/exh-bad"))

        since = started.isoformat().replace("+00:00", "Z")
        recovered = relay.http.post(f"/subscriptions/{failing['id']}/recover", json={"since": since})
        assert recovered.status_code == 202, recovered.text
        assert recovered.json()["queued"] == 2  # the two failed ones, not the delivered one
        rows = wait_deliveries(relay, failing["id"], "delivered", count=3)
        assert len(subscriber.on("/exh-bad")) == sent_before + 2
        again = [row for row in rows if row["event_id"] in {f["event_id"] for f in failed}]
        assert [row["attempts"][-1]["trigger"] for row in again] == ["recover", "recover"]
        assert {row["attempts"][-1]["response"] for row in again} == {"thanks"}
        # Nothing failed is left to recover.
        assert relay.http.post(f"/subscriptions/{failing['id']}/recover", json={"since": since}).json()["queued"] == 0


def test_a_subscription_failing_for_disable_after_is_disabled_and_reported_once(
    sandbox: Sandbox, redis_url: str, subscriber: Subscriber
) -> None:
    env = {"RELAY_DISABLE_AFTER": "2s", "RELAY_RETRY_SCHEDULE": "1,1,1,1,1,1"}
    with stack_with(sandbox, redis_url, ["dis"], env=env) as relay:
        relay.start_worker()
        source = Source(sandbox, relay, "dis")
        failing = subscribe(relay, subscriber.url("/dis-down"))
        flaky = subscribe(relay, subscriber.url("/dis-flaky"))
        gone = subscribe(relay, subscriber.url("/dis-gone"))
        operators = subscribe(relay, subscriber.url("/dis-ops"), event_types=["relay.subscription.disabled"])
        subscriber.script("/dis-down", default=Answer(500))
        subscriber.script("/dis-gone", default=Answer(410))

        # The flaky one fails each event's first attempt and succeeds at the retry, a second later: every
        # success resets its clock, so it outlives RELAY_DISABLE_AFTER failing on and off.
        for round_number in range(1, 4):
            subscriber.script("/dis-flaky", Answer(500), default=Answer(200))
            source.emit(1)
            wait_deliveries(relay, flaky["id"], "delivered", count=round_number)

        wait_until(lambda: not enabled(relay, failing["id"]) or None, timeout=20, what="the failing one disabled")
        wait_until(lambda: not enabled(relay, gone["id"]) or None, timeout=20, what="the gone one disabled")
        assert enabled(relay, flaky["id"])

        wait_until(lambda: len(subscriber.on("/dis-ops")) >= 2 or None, timeout=20, what="both reports")
        reports = {r["data"]["subscription_id"]: r["data"] for r in map(payload, subscriber.on("/dis-ops"))}
        assert reports[failing["id"]]["reason"] == "failing"
        assert reports[failing["id"]]["url"] == subscriber.url("/dis-down")
        failing_since = datetime.fromisoformat(reports[failing["id"]]["failing_since"])
        assert failing_since < datetime.now(UTC) - timedelta(seconds=2)
        assert reports[gone["id"]] == {
            "subscription_id": gone["id"],
            "url": subscriber.url("/dis-gone"),
            "reason": "gone",
            "failing_since": None,
        }
        disabled = [e["data"]["subscription_id"] for e in logged(relay, "relay.subscription.disabled")]
        assert sorted(disabled) == sorted([failing["id"], gone["id"]])  # once each, with two workers
        assert {row["status"] for row in deliveries(relay, failing["id"])} == {"failed"}
        # The report of a failed delivery of an operational event raises no further one, and nothing was
        # exhausted: the down subscriber was disabled before its last attempt.
        assert logged(relay, "relay.delivery.exhausted") == []
        assert received_types(subscriber, "/dis-ops") == Counter({"relay.subscription.disabled": 2})
        assert verified(operators["secret"], subscriber.on("/dis-ops")[0])
