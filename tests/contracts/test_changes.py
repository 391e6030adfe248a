"""Change detection against every rule of the event contract (README): which observation emits which
event, with which sequence and previous status, and which emits nothing."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.changes import Change, Snapshot, detect_change, event_id, fingerprint
from contracts.model import Invoice, Status

OBSERVED_AT = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)
LATER = OBSERVED_AT + timedelta(minutes=5)

BASE = Invoice(
    account="shop",
    provider="cryptocloud",
    invoice_id="INV-8F3K2L1Q",
    status=Status.PENDING,
    provider_status="created",
    amount=Decimal("100.00"),
    amount_paid=None,
    currency="USD",
    order_id="1111",
    customer_id=None,
    description=None,
    created_at=datetime(2026, 11, 22, 9, 58, tzinfo=UTC),
    due_at=datetime(2026, 11, 23, 9, 58, tzinfo=UTC),
    test_mode=False,
    raw={"uuid": "INV-8F3K2L1Q", "status": "created"},
)
PAID = dataclasses.replace(BASE, status=Status.PAID, provider_status="paid", amount_paid=Decimal("100.00"))


def with_(invoice: Invoice, **changes: Any) -> Invoice:
    return dataclasses.replace(invoice, **changes)


def seen(invoice: Invoice, sequence: int) -> Snapshot:
    """The snapshot the relay stored after it last recorded `invoice` as change number `sequence`."""
    return Snapshot(sequence, invoice.status, fingerprint(invoice))


NON_PENDING = [status for status in Status if status is not Status.PENDING]

#: Changes to one canonical field other than the status.
FIELD_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("amount", {"amount": Decimal("100.01")}),
    ("amount-more-digits", {"amount": Decimal("100.001")}),
    ("amount-sign", {"amount": Decimal("-100.00")}),
    ("amount_paid-from-null", {"amount_paid": Decimal("0.00")}),
    ("currency", {"currency": "EUR"}),
    ("description", {"description": "Monthly"}),
    ("due_at", {"due_at": datetime(2026, 11, 24, 9, 58, tzinfo=UTC)}),
    ("due_at-microsecond", {"due_at": datetime(2026, 11, 23, 9, 58, 0, 1, tzinfo=UTC)}),
    ("due_at-to-null", {"due_at": None}),
    ("created_at", {"created_at": datetime(2026, 11, 22, 9, 57, tzinfo=UTC)}),
    ("order_id", {"order_id": "1112"}),
    ("order_id-to-null", {"order_id": None}),
    ("customer_id", {"customer_id": "cus_1"}),
    ("test_mode", {"test_mode": True}),
    ("test_mode-to-null", {"test_mode": None}),
    ("provider_status-same-canonical", {"provider_status": "CREATED"}),
]

# (before: (invoice, its sequence) or None, after, silent) -> (event type or None, sequence, previous status)
CASES = [
    # First sight.
    pytest.param(None, BASE, False, "invoice.created", 1, None, id="first-sight-pending-is-created"),
    *(
        pytest.param(
            None,
            with_(BASE, status=status, provider_status=status.value),
            False,
            f"invoice.{status.value}",
            1,
            None,
            id=f"first-sight-{status.value}",
        )
        for status in NON_PENDING
    ),
    # Status changes.
    pytest.param((BASE, 1), PAID, False, "invoice.paid", 2, Status.PENDING, id="pending-to-paid"),
    pytest.param((BASE, 7), PAID, False, "invoice.paid", 8, Status.PENDING, id="sequence-continues-from-snapshot"),
    pytest.param(
        (PAID, 2),
        with_(PAID, status=Status.REFUNDED, provider_status="refund_paid"),
        False,
        "invoice.refunded",
        3,
        Status.PAID,
        id="paid-to-refunded",
    ),
    pytest.param(
        (with_(BASE, status=Status.CANCELED, provider_status="canceled"), 2),
        BASE,
        False,
        "invoice.pending",
        3,
        Status.CANCELED,
        id="back-to-pending-is-invoice.pending-not-created",
    ),
    pytest.param(
        (BASE, 1),
        with_(BASE, status=Status.UNKNOWN, provider_status="weird"),
        False,
        "invoice.unknown",
        2,
        Status.PENDING,
        id="pending-to-unknown",
    ),
    pytest.param(
        (BASE, 1),
        with_(PAID, description="now described", amount=Decimal("100.01")),
        False,
        "invoice.paid",
        2,
        Status.PENDING,
        id="status-and-fields-change-is-one-status-event",
    ),
    # Other canonical fields, same status: invoice.updated.
    *(
        pytest.param(
            (BASE, 3), with_(BASE, **changes), False, "invoice.updated", 4, Status.PENDING, id=f"updated-{name}"
        )
        for name, changes in FIELD_CHANGES
    ),
    pytest.param(
        (PAID, 2),
        with_(PAID, amount_paid=Decimal("99.99")),
        False,
        "invoice.updated",
        3,
        Status.PAID,
        id="updated-amount_paid",
    ),
    pytest.param(
        (PAID, 2),
        with_(PAID, provider_status="success"),
        False,
        "invoice.updated",
        3,
        Status.PAID,
        id="updated-provider_status-paid-to-success-both-paid",
    ),
    # Nothing canonical changed: nothing to record.
    pytest.param((BASE, 1), BASE, False, None, None, None, id="no-change"),
    pytest.param((PAID, 5), PAID, False, None, None, None, id="no-change-later"),
    pytest.param((BASE, 1), with_(BASE, raw={"uuid": "x", "new": [1, 2]}), False, None, None, None, id="raw-only"),
    pytest.param((BASE, 1), with_(BASE, raw={}), False, None, None, None, id="raw-emptied"),
    pytest.param(
        (BASE, 1),
        with_(BASE, created_at=datetime(2026, 11, 22, 12, 58, tzinfo=timezone(timedelta(hours=3)))),
        False,
        None,
        None,
        None,
        id="same-instant-other-zone",
    ),
    pytest.param(
        (BASE, 1), with_(BASE, amount=Decimal("100.0")), False, None, None, None, id="amount-same-rendering-100.0"
    ),
    pytest.param(
        (BASE, 1), with_(BASE, amount=Decimal("1E+2")), False, None, None, None, id="amount-same-rendering-1E+2"
    ),
    # Silent (initial_sync = "baseline"): first sight recorded without an event, later changes are not silent.
    pytest.param(None, BASE, True, None, 1, None, id="silent-first-sight-pending"),
    pytest.param(None, PAID, True, None, 1, None, id="silent-first-sight-paid"),
    pytest.param((BASE, 1), PAID, True, "invoice.paid", 2, Status.PENDING, id="silent-does-not-silence-status-change"),
    pytest.param(
        (BASE, 1),
        with_(BASE, amount=Decimal("5.00")),
        True,
        "invoice.updated",
        2,
        Status.PENDING,
        id="silent-does-not-silence-update",
    ),
    pytest.param((BASE, 1), BASE, True, None, None, None, id="silent-no-change"),
]


@pytest.mark.parametrize(("before", "after", "silent", "event_type", "sequence", "previous_status"), CASES)
def test_change_rules(
    before: tuple[Invoice, int] | None,
    after: Invoice,
    silent: bool,
    event_type: str | None,
    sequence: int | None,
    previous_status: Status | None,
) -> None:
    previous = None if before is None else seen(*before)
    change = detect_change(previous, after, observed_at=OBSERVED_AT, silent=silent)
    if sequence is None:
        assert change is None
        return
    assert change is not None
    assert change.snapshot == Snapshot(sequence, after.status, fingerprint(after))
    if event_type is None:
        assert change.event is None
        return
    event = change.event
    assert event is not None
    assert event.type == event_type
    assert event.sequence == sequence
    assert event.previous_status is previous_status
    assert event.invoice is after
    assert event.timestamp == OBSERVED_AT
    assert event.id == event_id(after.key, sequence, fingerprint(after))


def observe(previous: Snapshot | None, invoice: Invoice, *, silent: bool = False) -> Change | None:
    return detect_change(previous, invoice, observed_at=OBSERVED_AT, silent=silent)


def test_a_history_of_observations() -> None:
    """Baseline, then changes, with re-polls in between that find nothing: sequences 1, 2, 3, 4."""
    history = [
        (BASE, True, None),
        (BASE, False, None),
        (with_(BASE, amount_paid=Decimal("40.00"), status=Status.PARTIALLY_PAID), False, "invoice.partially_paid"),
        (with_(BASE, amount_paid=Decimal("40.00"), status=Status.PARTIALLY_PAID), False, None),
        (with_(BASE, amount_paid=Decimal("40.00"), status=Status.PARTIALLY_PAID, raw={"x": 1}), False, None),
        (PAID, False, "invoice.paid"),
        (with_(PAID, description="receipt sent"), False, "invoice.updated"),
        (with_(PAID, description="receipt sent"), False, None),
    ]
    snapshot: Snapshot | None = None
    emitted: list[tuple[str, int, Status | None]] = []
    for invoice, silent, expected in history:
        change = observe(snapshot, invoice, silent=silent)
        if change is None:
            assert expected is None
            continue
        snapshot = change.snapshot
        if change.event is not None:
            emitted.append((change.event.type, change.event.sequence, change.event.previous_status))
        else:
            assert expected is None
    assert emitted == [
        ("invoice.partially_paid", 2, Status.PENDING),
        ("invoice.paid", 3, Status.PARTIALLY_PAID),
        ("invoice.updated", 4, Status.PAID),
    ]
    assert snapshot == Snapshot(4, Status.PAID, fingerprint(with_(PAID, description="receipt sent")))


def test_emit_mode_first_sight_matches_baseline_snapshot() -> None:
    """Silent and emitting first sight store the same snapshot: only the event differs."""
    loud = observe(None, PAID)
    quiet = observe(None, PAID, silent=True)
    assert loud is not None
    assert quiet is not None
    assert loud.snapshot == quiet.snapshot
    assert loud.event is not None
    assert quiet.event is None


# Event ids.

ID_PATTERN = re.compile(r"evt_[a-z0-9]+")


def test_event_id_is_deterministic_across_observations() -> None:
    """The same change seen twice (a crash and a retry, a duplicate trigger, another clock) gets the same id."""
    first = detect_change(seen(BASE, 1), PAID, observed_at=OBSERVED_AT)
    again = detect_change(seen(BASE, 1), with_(PAID, raw={"other": "raw"}), observed_at=LATER)
    assert first is not None
    assert again is not None
    assert first.event is not None
    assert again.event is not None
    assert first.event.id == again.event.id
    assert ID_PATTERN.fullmatch(first.event.id)


def test_event_id_shape() -> None:
    value = event_id("shop:INV-1", 1, fingerprint(BASE))
    assert ID_PATTERN.fullmatch(value)
    assert value == event_id("shop:INV-1", 1, fingerprint(BASE))


@pytest.mark.parametrize(
    ("key", "sequence", "invoice"),
    [
        pytest.param("shop:INV-8F3K2L1Q", 2, BASE, id="other-sequence"),
        pytest.param("shop:INV-8F3K2L1Q", 1, PAID, id="other-state"),
        pytest.param("shop:INV-8F3K2L1Q", 1, with_(BASE, description="d"), id="other-field"),
        pytest.param("other:INV-8F3K2L1Q", 1, BASE, id="other-account"),
        pytest.param("shop:INV-8F3K2L1R", 1, BASE, id="other-invoice"),
    ],
)
def test_event_id_differs_for_a_different_change(key: str, sequence: int, invoice: Invoice) -> None:
    assert event_id(key, sequence, fingerprint(invoice)) != event_id("shop:INV-8F3K2L1Q", 1, fingerprint(BASE))


def test_event_ids_of_a_back_and_forth_differ() -> None:
    """pending -> paid -> pending -> paid: the second paid has the state of the first but a new sequence."""
    ids = []
    snapshot = seen(BASE, 1)
    for invoice in (PAID, BASE, PAID):
        change = observe(snapshot, invoice)
        assert change is not None
        assert change.event is not None
        ids.append(change.event.id)
        snapshot = change.snapshot
    assert snapshot.sequence == 4
    assert len(set(ids)) == 3


# Fingerprints and snapshots.


def test_fingerprint_ignores_raw_only() -> None:
    assert fingerprint(BASE) == fingerprint(with_(BASE, raw={"anything": [1, 2, 3]}))
    assert fingerprint(BASE) != fingerprint(with_(BASE, order_id="2222"))
    assert re.fullmatch(r"[0-9a-f]+", fingerprint(BASE))  # no "|", which separates snapshot fields


@pytest.mark.parametrize("status", list(Status))
def test_snapshot_round_trip(status: Status) -> None:
    snapshot = Snapshot(12, status, fingerprint(with_(BASE, status=status)))
    encoded = snapshot.encode()
    assert Snapshot.decode(encoded) == snapshot
    assert Snapshot.decode(encoded.encode()) == snapshot
    assert Snapshot.decode(encoded).status is status


@given(st.integers(min_value=1, max_value=2**63), st.sampled_from(list(Status)), st.text(min_size=1))
def test_snapshot_round_trip_any(sequence: int, status: Status, text: str) -> None:
    snapshot = Snapshot(sequence, status, text)
    assert Snapshot.decode(snapshot.encode()) == snapshot


@pytest.mark.parametrize("garbage", ["", "1", "1|pending", "x|pending|abc", "1|bogus|abc"])
def test_snapshot_decode_refuses_garbage(garbage: str) -> None:
    with pytest.raises(ValueError):
        Snapshot.decode(garbage)


def test_a_decoded_snapshot_detects_like_the_original() -> None:
    stored = Snapshot.decode(seen(BASE, 3).encode().encode())
    assert observe(stored, BASE) is None
    change = observe(stored, PAID)
    assert change is not None
    assert change.event is not None
    assert (change.event.type, change.event.sequence, change.event.previous_status) == (
        "invoice.paid",
        4,
        Status.PENDING,
    )


def test_a_raw_only_change_refreshes_the_source_without_an_event() -> None:
    stored = Snapshot(3, BASE.status, fingerprint(BASE), "a" * 32)
    change = detect_change(stored, with_(BASE, raw={"new": "field"}), observed_at=OBSERVED_AT, source="b" * 32)
    assert change is not None
    assert change.event is None
    assert change.snapshot == Snapshot(3, BASE.status, fingerprint(BASE), "b" * 32)
    assert detect_change(change.snapshot, BASE, observed_at=OBSERVED_AT, source="b" * 32) is None


def test_source_digests_follow_the_record_and_its_translation_context() -> None:
    from contracts.account_file import parse_accounts
    from contracts.changes import source_digest, translation_context

    accounts = parse_accounts(
        {
            "accounts": {
                "a": {"provider": "smsonline", "user_id": "u", "api_key": "k"},
                "b": {"provider": "smsonline", "user_id": "u", "api_key": "k", "amount_unit": "units"},
            }
        },
        {},
    )
    record = {"sesid": "s1", "amount": 500, "status": "paid"}
    first = source_digest(translation_context(accounts["a"]), record)
    assert first == source_digest(translation_context(accounts["a"]), dict(record))
    assert first != source_digest(translation_context(accounts["a"]), {**record, "status": "cancel"})
    assert first != source_digest(translation_context(accounts["b"]), record)  # same bytes, other meaning
    assert Snapshot.decode(Snapshot(1, Status.PAID, "f|p", first).encode()) == Snapshot(1, Status.PAID, "f|p", first)


def test_source_of_reads_the_digest_without_decoding() -> None:
    snapshot = Snapshot(7, Status.PAID, "f|p", "c" * 32)
    assert Snapshot.source_of(snapshot.encode()) == "c" * 32
    assert Snapshot.source_of(Snapshot(1, Status.PENDING, "f").encode()) == ""
    assert Snapshot.source_of("garbage") == ""
