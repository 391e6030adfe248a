"""`Subscription` on its own: which events it matches, and which keys sign its deliveries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.model import EVENT_TYPES
from contracts.standard_webhooks import secret_key
from service.state.subscriptions import ROTATION_OVERLAP, Subscription, new_subscription, rotated

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def subscription(
    *, accounts: tuple[str, ...] = ("*",), event_types: tuple[str, ...] = ("*",), enabled: bool = True
) -> Subscription:
    made = new_subscription(
        url="https://example.com/hook", event_types=event_types, accounts=accounts, description=None, now=NOW
    )
    return replace(made, enabled=enabled)


def test_a_disabled_subscription_matches_nothing() -> None:
    assert subscription().matches("shop", "invoice.paid")  # the control
    assert [t for t in EVENT_TYPES if subscription(enabled=False).matches("shop", t)] == []


@pytest.mark.parametrize(("accounts", "event_types", "account", "event_type", "expected"), [
    (("shop",), ("*",), "shop", "invoice.paid", True),
    (("shop",), ("*",), "sp", "invoice.paid", False),
    (("shop",), ("*",), "Shop", "invoice.paid", False),
    (("shop", "sp"), ("*",), "sp", "invoice.created", True),
    (("*",), ("invoice.paid",), "shop", "invoice.paid", True),
    (("*",), ("invoice.paid",), "shop", "invoice.created", False),
    (("*",), ("invoice.paid", "invoice.canceled"), "sp", "invoice.canceled", True),
    (("shop",), ("invoice.paid",), "sp", "invoice.paid", False),
    (("shop",), ("invoice.paid",), "shop", "invoice.created", False),
    (("shop",), ("invoice.paid",), "shop", "invoice.paid", True),
])  # fmt: skip
def test_account_and_type_filters(
    accounts: tuple[str, ...], event_types: tuple[str, ...], account: str, event_type: str, expected: bool
) -> None:
    assert subscription(accounts=accounts, event_types=event_types).matches(account, event_type) is expected


@pytest.mark.parametrize("event_types", [("*",), ("invoice.*",)])
def test_wildcards_match_every_event_type(event_types: tuple[str, ...]) -> None:
    matching = subscription(accounts=("sp",), event_types=event_types)
    assert all(matching.matches("sp", t) for t in EVENT_TYPES)
    assert not any(matching.matches("shop", t) for t in EVENT_TYPES)


@pytest.mark.parametrize(("accounts", "event_types", "account", "event_type", "expected"), [
    (("*",), ("*",), "", "relay.subscription.disabled", False),
    (("*",), ("invoice.*",), "shop", "relay.account.sync_failing", False),
    (("*",), ("relay.*",), "", "relay.delivery.exhausted", True),
    (("*",), ("relay.*",), "shop", "invoice.paid", False),
    (("*",), ("relay.delivery.exhausted",), "", "relay.delivery.exhausted", True),
    (("*",), ("relay.delivery.exhausted",), "", "relay.subscription.disabled", False),
    (("shop",), ("relay.*",), "", "relay.subscription.disabled", True),
    (("shop",), ("relay.*",), "shop", "relay.account.sync_failing", True),
    (("shop",), ("relay.*",), "sp", "relay.account.sync_failing", False),
])  # fmt: skip
def test_operational_events_go_only_where_named(
    accounts: tuple[str, ...], event_types: tuple[str, ...], account: str, event_type: str, expected: bool
) -> None:
    """`*` means every invoice event; an operational one must be named, exactly or as `relay.*`. The account
    filter applies to those about an account."""
    assert subscription(accounts=accounts, event_types=event_types).matches(account, event_type) is expected


def test_a_rotated_out_key_signs_only_until_the_overlap_ends() -> None:
    before = subscription()
    after = rotated(before, NOW)
    [old] = before.signing_keys(NOW)
    new = secret_key(after.secrets[0].secret)
    assert new != old
    end = NOW + ROTATION_OVERLAP
    assert timedelta(hours=24) == ROTATION_OVERLAP  # what the README promises
    assert after.signing_keys(NOW) == [new, old]
    assert after.signing_keys(end - timedelta(seconds=1)) == [new, old]
    assert after.signing_keys(end) == [new]
    assert after.signing_keys(end + timedelta(days=400)) == [new]
    # The current key has no end.
    assert before.signing_keys(end + timedelta(days=400)) == [old]
    # Rotating again drops the oldest key at once: only the one just replaced overlaps.
    again = rotated(after, NOW + timedelta(hours=1))
    assert again.signing_keys(NOW + timedelta(hours=1)) == [secret_key(again.secrets[0].secret), new]
