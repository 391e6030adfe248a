"""Operational events in the stores, against a real Valkey: each raised once per occurrence, in the same
transaction as the change it reports; the subscriber's failing clock; what started a round of attempts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from contracts.operational import GONE, delivery_exhausted
from service.state.account_state import AUTH_FAILED, ERROR, OK, AccountStates, SyncReport
from service.state.deliveries import DELIVERED, FAILED, PENDING, RECOVER, DeliveryStore, Outcome
from service.state.eventlog import EventLog
from service.state.subscriptions import SubscriptionStore
from tests.service.state.test_deliveries_store import LEASE, NOW, SUB, attempt, save_subscription
from workers.delivery.disabling import Disabler

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(redis: Redis) -> DeliveryStore:
    await save_subscription(redis, SUB)
    return DeliveryStore(redis)


async def operational(redis: Redis) -> list[tuple[str, dict[str, Any]]]:
    events, _ = await EventLog(redis).page(after=None, limit=1000, event_type="relay.*")
    return [(event.type, orjson.loads(event.body)["data"]) for event in events]


def exhausted(event_id: str) -> Any:
    return delivery_exhausted(
        subscription_id=SUB, event_id=event_id, event_type="invoice.paid", attempts=3, last_attempt=attempt(3), at=T0
    )


async def test_exhaustion_is_logged_once_with_the_failed_outcome(store: DeliveryStore, redis: Redis) -> None:
    await store.fan_out([(SUB, "evt_1"), (SUB, "evt_2")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    # A retry reports nothing, even with a report at hand.
    await store.record(SUB, [Outcome("evt_2", PENDING, NOW + 1, attempt(1), False, exhausted("evt_2"))])
    assert await operational(redis) == []
    # Two workers each recording a last attempt (the first one's lease ran out and the other sent it again):
    # the delivery failed once, so one report.
    for n in (3, 4):
        report = delivery_exhausted(
            subscription_id=SUB, event_id="evt_1", event_type="invoice.paid", attempts=3, last_attempt=attempt(n), at=T0
        )
        await store.record(SUB, [Outcome("evt_1", FAILED, None, attempt(n), False, report)])
    reports = await operational(redis)
    assert [(kind, data["event_id"]) for kind, data in reports] == [("relay.delivery.exhausted", "evt_1")]
    assert reports[0][1]["last_attempt"] == {"at": attempt(3)["at"], "status_code": 500, "error": None}


async def test_the_failing_clock_starts_at_the_first_failure_and_any_success_stops_it(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, f"evt_{n}") for n in range(4)], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    first = await store.record(SUB, [Outcome("evt_0", PENDING, NOW + 1, attempt(1), False)])
    assert first is not None
    await asyncio.sleep(0.01)  # Redis' clock must move for the next check to mean anything
    assert await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 1, attempt(2), False)]) == first
    # An outcome that says nothing of the subscriber (nothing was sent) leaves the clock alone.
    assert await store.record(SUB, [Outcome("evt_2", FAILED, None, attempt(3), None)]) == first
    assert await store.record(SUB, [Outcome("evt_3", DELIVERED, None, attempt(4, 200), True)]) is None
    await store.record(SUB, [Outcome("evt_0", PENDING, NOW + 1, attempt(5), False)])
    await store.clear_failing(SUB)
    assert await store.record(SUB, [Outcome("evt_1", PENDING, NOW + 1, attempt(6), None)]) is None


async def test_attempts_after_a_recover_say_so(store: DeliveryStore) -> None:
    await store.fan_out([(SUB, "evt_1")], NOW)
    await store.claim(SUB, NOW, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", FAILED, None, attempt(1), False)])
    assert await store.failed_among(SUB, ["evt_1", "evt_unknown"]) == ["evt_1"]
    assert await store.requeue(SUB, ["evt_1"], NOW + 10, RECOVER) == 1
    assert await store.failed_among(SUB, ["evt_1"]) == []
    await store.claim(SUB, NOW + 10, LEASE, 10)
    await store.record(SUB, [Outcome("evt_1", DELIVERED, None, attempt(2, 200), True)])
    (row,) = await store.list(SUB, status=DELIVERED, limit=10)
    assert [a["trigger"] for a in row["attempts"]] == ["scheduled", "recover"]


def report(status: str, at: datetime, error: str | None = None) -> SyncReport:
    return SyncReport(status=status, finished_at=at, error=error, complete=status == OK)


async def test_an_account_fails_at_its_third_error_in_a_row_or_its_first_refusal_and_recovers_once(
    redis: Redis,
) -> None:
    states = AccountStates(redis)
    moments = [T0 + timedelta(minutes=n) for n in range(10)]
    assert await states.record("shop", report(ERROR, moments[0], "timeout")) == 1
    assert await states.record("shop", report(OK, moments[1])) == 0
    for n in (2, 3):
        await states.record("shop", report(ERROR, moments[n], "HTTP 502"))
    assert await operational(redis) == []  # two in a row: not yet
    assert await states.record("shop", report(ERROR, moments[4], "HTTP 503")) == 3
    await states.record("shop", report(ERROR, moments[5], "HTTP 503"))  # still failing: no second report
    await states.record("shop", report(OK, moments[6]))
    await states.record("shop", report(OK, moments[7]))
    await states.record("shop", report(AUTH_FAILED, moments[8], "credentials refused"))
    assert await operational(redis) == [
        (
            "relay.account.sync_failing",
            {"account": "shop", "status": "error", "error": "HTTP 503", "since": "2026-12-01T09:04:00Z"},
        ),
        ("relay.account.sync_recovered", {"account": "shop", "failing_since": "2026-12-01T09:04:00Z"}),
        (
            "relay.account.sync_failing",
            {
                "account": "shop",
                "status": "auth_failed",
                "error": "credentials refused",
                "since": "2026-12-01T09:08:00Z",
            },
        ),
    ]
    events, _ = await EventLog(redis).page(after=None, limit=10, account="shop")
    assert len(events) == 3  # about the account: listed under it


async def test_a_subscription_disabled_by_two_workers_at_once_is_reported_once(redis: Redis) -> None:
    await save_subscription(redis, SUB)
    retired: list[str] = []

    def disabler() -> Disabler:
        return Disabler(SubscriptionStore(redis), DeliveryStore(redis), EventLog(redis), on_disabled=retired.append)

    await asyncio.gather(
        *(disabler().disable(SUB, reason=GONE, failing_since_ms=None) for _ in range(4)),
    )
    subscription = await SubscriptionStore(redis).get(SUB)
    assert subscription is not None
    assert not subscription.enabled
    reports = await operational(redis)
    assert [(kind, data["subscription_id"], data["reason"]) for kind, data in reports] == [
        ("relay.subscription.disabled", SUB, "gone")
    ]
    assert retired == [SUB] * 4
