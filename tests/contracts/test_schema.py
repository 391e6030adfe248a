"""The published JSON Schema of the event body: real events pass it, and it refuses anything else."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from contracts.account_file import parse_account
from contracts.changes import Snapshot, detect_change, fingerprint
from contracts.errors import RecordError
from contracts.jsonio import dumps, loads_exact
from contracts.model import EVENT_TYPES, Event, Invoice, Status
from contracts.registry import provider_for
from tests.contracts.support import fixture_json, mutations

SCHEMA: dict[str, Any] = json.loads(files("contracts").joinpath("schemas/event.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
OBSERVED_AT = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)

INVOICE = Invoice(
    account="shop",
    provider="cryptocloud",
    invoice_id="INV-8F3K2L1Q",
    status=Status.PENDING,
    provider_status="created",
    amount=Decimal("100.00"),
    amount_paid=None,
    currency="USD",
    order_id="1111",
    created_at=datetime(2026, 11, 22, 9, 58, tzinfo=UTC),
    due_at=datetime(2026, 11, 23, 9, 58, tzinfo=UTC),
    test_mode=False,
    raw={"uuid": "INV-8F3K2L1Q", "amount": Decimal("100.00"), "nested": {"list": [1, None, "x"]}},
)


def body(event: Event) -> Any:
    """The event as a subscriber receives it: the delivered bytes, parsed."""
    return json.loads(event.to_json())


def errors(document: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def first_sight(invoice: Invoice, observed_at: datetime = OBSERVED_AT) -> Event:
    change = detect_change(None, invoice, observed_at=observed_at)
    assert change is not None
    assert change.event is not None
    return change.event


def after(previous: Invoice, sequence: int, current: Invoice) -> Event:
    change = detect_change(Snapshot(sequence, previous.status, fingerprint(previous)), current, observed_at=OBSERVED_AT)
    assert change is not None
    assert change.event is not None
    return change.event


def replace(invoice: Invoice, **changes: Any) -> Invoice:
    values = {**{name: getattr(invoice, name) for name in Invoice.__dataclass_fields__}, **changes}
    return Invoice(**values)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["properties"]["type"]["enum"] == list(EVENT_TYPES)
    assert SCHEMA["$defs"]["status"]["enum"] == [status.value for status in Status]


# Real events are valid.


def real_events() -> Iterator[Any]:
    yield pytest.param(first_sight(INVOICE), id="created")
    for status in Status:
        yield pytest.param(first_sight(replace(INVOICE, status=status)), id=f"first-sight-{status.value}")
        yield pytest.param(
            after(INVOICE, 1, replace(INVOICE, status=status, amount_paid=Decimal("1"))), id=f"to-{status.value}"
        )
    yield pytest.param(after(INVOICE, 4, replace(INVOICE, description="d")), id="updated")
    bare = Invoice(
        account="a",
        provider="ispcrm",
        invoice_id="1",
        status=Status.UNKNOWN,
        provider_status="",
        amount=Decimal("-0.000000000000000001"),
        amount_paid=None,
        currency="RUB",
    )
    yield pytest.param(first_sight(bare), id="all-nullable-null")
    full = replace(
        INVOICE,
        account="a" * 64,
        provider="simplepay",
        amount=Decimal("1E+30"),
        amount_paid=Decimal("0"),
        customer_id="c",
        description='\u2713 \n quoted "text"',
        created_at=datetime(1, 1, 1, tzinfo=UTC),
        due_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        test_mode=True,
    )
    yield pytest.param(first_sight(full, datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=3)))), id="all-set")


@pytest.mark.parametrize("event", list(real_events()))
def test_real_events_are_valid(event: Event) -> None:
    assert errors(body(event)) == []


decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20, places=None)
aware_times = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))])
)
texts = st.text(max_size=20)


@st.composite
def invoices(draw: st.DrawFn) -> Invoice:
    return Invoice(
        account=draw(st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True)),
        provider=draw(st.sampled_from(["cryptocloud", "simplepay", "smsonline", "ispcrm"])),
        invoice_id=draw(st.text(min_size=1, max_size=20)),
        status=draw(st.sampled_from(list(Status))),
        provider_status=draw(texts),
        amount=draw(decimals),
        amount_paid=draw(st.none() | decimals),
        currency=draw(st.text(min_size=1, max_size=8)),
        order_id=draw(st.none() | texts),
        customer_id=draw(st.none() | texts),
        description=draw(st.none() | texts),
        created_at=draw(st.none() | aware_times),
        due_at=draw(st.none() | aware_times),
        test_mode=draw(st.none() | st.booleans()),
        raw=draw(
            st.dictionaries(
                st.text(max_size=5), st.none() | st.integers(-(2**63), 2**63) | decimals | texts, max_size=4
            )
        ),
    )


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(invoices(), invoices(), st.integers(min_value=1, max_value=10**6), aware_times)
def test_any_detected_change_is_valid(before: Invoice, current: Invoice, sequence: int, observed_at: datetime) -> None:
    current = replace(current, account=before.account, invoice_id=before.invoice_id)
    for previous in (None, Snapshot(sequence, before.status, fingerprint(before))):
        change = detect_change(previous, current, observed_at=observed_at)
        if change is not None and change.event is not None:
            assert errors(body(change.event)) == []


# Events built from provider translations of the documented answers are valid.

ACCOUNTS = {
    "cryptocloud": parse_account("shop", {"provider": "cryptocloud", "api_key": "k"}),
    "simplepay": parse_account("sp", {"provider": "simplepay", "api_key": "k"}),
    "smsonline": parse_account(
        "sms", {"provider": "smsonline", "user_id": 7, "api_key": "k", "timezone": "Europe/Moscow"}
    ),
    "ispcrm": parse_account(
        "isp", {"provider": "ispcrm", "base_url": "https://crm.example", "currency": "kzt", "token": "t"}
    ),
}
#: provider -> (fixture, where its records are)
RECORDS: dict[str, list[tuple[str, Callable[[Any], list[Any]]]]] = {
    "cryptocloud": [("cryptocloud/invoice-list.json", lambda document: document["result"])],
    "simplepay": [("simplepay/invoices-realistic.json", lambda document: document)],
    "smsonline": [("smsonline-payments.json", lambda document: document["body"])],
    "ispcrm": [("ispcrm-invoices.json", lambda document: document["data"])],
}


def provider_records() -> Iterator[Any]:
    for provider, sources in RECORDS.items():
        for name, extract in sources:
            for index, record in enumerate(extract(fixture_json(name))):
                yield pytest.param(provider, record, id=f"{provider}-{index}")


@pytest.mark.parametrize(("provider", "record"), list(provider_records()))
def test_events_from_documented_provider_records_are_valid(provider: str, record: Any) -> None:
    account = ACCOUNTS[provider]
    invoice = provider_for(provider).translate(account, record)
    event = first_sight(invoice)
    assert errors(body(event)) == []
    # and the record travels untouched in `raw`
    assert body(event)["data"]["invoice"]["raw"] == json.loads(dumps(record))


def mutated_records() -> st.SearchStrategy[tuple[str, Any]]:
    pairs = [
        (provider, record)
        for provider, sources in RECORDS.items()
        for name, extract in sources
        for record in extract(fixture_json(name))
    ]
    return st.sampled_from(pairs).flatmap(lambda pair: st.tuples(st.just(pair[0]), mutations(pair[1])))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_records())
def test_any_record_a_provider_accepts_makes_a_valid_event(provider_and_record: tuple[str, Any]) -> None:
    """Whatever a translator lets through (rather than refusing with a `RecordError`) renders to a valid event."""
    provider, record = provider_and_record
    assume(_json_safe(record))
    record = loads_exact(dumps(record))  # as the relay reads it off the wire
    try:
        invoice = provider_for(provider).translate(ACCOUNTS[provider], record)
    except RecordError:
        return
    assert errors(body(first_sight(invoice))) == []


def _json_safe(value: Any) -> bool:
    try:
        dumps(value)
    except TypeError:
        return False
    return True


# Anything else is refused.

VALID = body(
    after(INVOICE, 1, replace(INVOICE, status=Status.PAID, provider_status="paid", amount_paid=Decimal("100")))
)


def test_the_base_document_is_valid() -> None:
    """The rejection cases below each break one thing in this document."""
    assert errors(VALID) == []
    assert VALID["type"] == "invoice.paid"
    assert VALID["data"]["sequence"] == 2


def changed(path: str, value: Any) -> Any:
    """VALID with the field at `path` (dotted) set to `value`."""
    document = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target = document
    for name in parents:
        target = target[name]
    target[last] = value
    return document


def removed(path: str) -> Any:
    document = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target = document
    for name in parents:
        target = target[name]
    del target[last]
    return document


INVOICE_FIELDS = list(VALID["data"]["invoice"])
ALL_FIELDS = ["id", "type", "timestamp", "data", "data.sequence", "data.previous_status", "data.invoice"] + [
    f"data.invoice.{name}" for name in INVOICE_FIELDS
]


@pytest.mark.parametrize("path", ALL_FIELDS)
def test_every_field_is_required(path: str) -> None:
    assert errors(removed(path))


@pytest.mark.parametrize("where", ["", "data.", "data.invoice."])
def test_unknown_fields_are_refused(where: str) -> None:
    assert errors(changed(f"{where}extra", None))
    assert errors(changed(f"{where}Amount", "1.00"))


def test_raw_holds_anything() -> None:
    assert errors(changed("data.invoice.raw", {"extra": [1, 2.5, None, {"deep": True}], "": ""})) == []
    assert errors(changed("data.invoice.raw", {})) == []
    assert errors(changed("data.invoice.raw", [1, 2])), "raw is the provider's record: an object"
    assert errors(changed("data.invoice.raw", None))


BAD_AMOUNTS = [
    100.0,  # a float, never
    100,
    "1e5",
    "1E+5",
    "50.0",  # one fraction digit
    "50",
    ".50",
    "50.",
    "+50.00",
    "1,000.00",
    "1 000.00",
    " 50.00",
    "50.00 ",
    "--1.00",
    "NaN",
    "Infinity",
    "",
    "\u0661\u0660.\u0660\u0660",  # Arabic-Indic digits
    None,
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_amounts_are_refused(amount: Any) -> None:
    assert errors(changed("data.invoice.amount", amount))


@pytest.mark.parametrize("amount", [a for a in BAD_AMOUNTS if a is not None])
def test_bad_amounts_paid_are_refused(amount: Any) -> None:
    assert errors(changed("data.invoice.amount_paid", amount))


@pytest.mark.parametrize(
    "amount", ["0.00", "-1.00", "100.10", "0.00012", "123456789012345678901234567890.000000000000000001"]
)
def test_good_amounts(amount: str) -> None:
    assert errors(changed("data.invoice.amount", amount)) == []
    assert errors(changed("data.invoice.amount_paid", amount)) == []


BAD_TIMES = [
    "2026-11-22T10:00:00+03:00",
    "2026-11-22T10:00:00+00:00",
    "2026-11-22T10:00:00",
    "2026-11-22 10:00:00Z",
    "2026-11-22T10:00Z",
    "2026-11-22",
    "2026-11-22T10:00:00.Z",
    "2026-13-01T10:00:00Z",
    "2026-11-32T10:00:00Z",
    "2026-11-22T24:00:00Z",
    "2026-11-22T10:60:00Z",
    "2026-11-22T10:00:00z",
    "22.11.2026 10:00",
    "1764000000",
    1764000000,
    "",
]


@pytest.mark.parametrize("value", BAD_TIMES)
def test_bad_times_are_refused(value: Any) -> None:
    assert errors(changed("timestamp", value))
    assert errors(changed("data.invoice.created_at", value))
    assert errors(changed("data.invoice.due_at", value))


@pytest.mark.parametrize("value", ["2026-11-22T10:00:00Z", "2026-11-22T10:00:00.1Z", "2026-11-22T10:00:00.123456789Z"])
def test_good_times(value: str) -> None:
    assert errors(changed("timestamp", value)) == []
    assert errors(changed("data.invoice.due_at", value)) == []


def test_timestamp_is_not_nullable_but_invoice_times_are() -> None:
    assert errors(changed("timestamp", None))
    assert errors(changed("data.invoice.created_at", None)) == []
    assert errors(changed("data.invoice.due_at", None)) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("id", "evt_ABC"),
        ("id", "evt_"),
        ("id", "abc"),
        ("id", "evt-abc"),
        ("id", 5),
        ("type", "invoice.deleted"),
        ("type", "invoice.*"),
        ("type", "Invoice.paid"),
        ("type", "paid"),
        ("type", None),
        ("data", None),
        ("data.sequence", 0),
        ("data.sequence", -1),
        ("data.sequence", "2"),
        ("data.sequence", 2.5),
        ("data.sequence", None),
        ("data.previous_status", "bogus"),
        ("data.previous_status", "PENDING"),
        ("data.invoice", None),
        ("data.invoice.key", ""),
        ("data.invoice.key", "INV-8F3K2L1Q"),
        ("data.invoice.account", "Shop"),
        ("data.invoice.account", ""),
        ("data.invoice.account", "a" * 65),
        ("data.invoice.account", "a.b"),
        ("data.invoice.provider", "stripe"),
        ("data.invoice.provider", None),
        ("data.invoice.invoice_id", ""),
        ("data.invoice.invoice_id", 123),
        ("data.invoice.invoice_id", None),
        ("data.invoice.status", "settled"),
        ("data.invoice.status", None),
        ("data.invoice.provider_status", None),
        ("data.invoice.provider_status", 1),
        ("data.invoice.currency", None),
        ("data.invoice.currency", ""),
        ("data.invoice.order_id", 1111),
        ("data.invoice.customer_id", 5),
        ("data.invoice.description", ["x"]),
        ("data.invoice.test_mode", "false"),
        ("data.invoice.test_mode", 0),
    ],
)
def test_bad_values_are_refused(path: str, value: Any) -> None:
    assert errors(changed(path, value))


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(changed("data.invoice.status", "pending"), id="paid-event-of-a-pending-invoice"),
        pytest.param(changed("type", "invoice.created"), id="created-at-sequence-2"),
        pytest.param(
            changed(
                "data",
                {
                    **VALID["data"],
                    "sequence": 1,
                    "previous_status": None,
                    "invoice": {**VALID["data"]["invoice"], "status": "paid"},
                },
            )
            | {"type": "invoice.created"},
            id="created-of-a-paid-invoice",
        ),
        pytest.param(changed("data.previous_status", None), id="no-previous-status-after-first-sight"),
        pytest.param(changed("data.sequence", 1), id="previous-status-on-first-sight"),
        pytest.param(
            changed("data", {**VALID["data"], "sequence": 1, "previous_status": None}) | {"type": "invoice.updated"},
            id="updated-on-first-sight",
        ),
    ],
)
def test_inconsistent_events_are_refused(document: Any) -> None:
    assert errors(document)


def test_consistent_variants_of_the_base_document_are_valid() -> None:
    """The consistency rules are not over-strict: the valid neighbours of the cases above pass."""
    first = changed("data", {**VALID["data"], "sequence": 1, "previous_status": None})
    assert errors(first) == []
    created = first | {"type": "invoice.created"}
    created["data"] = {**first["data"], "invoice": {**first["data"]["invoice"], "status": "pending"}}
    assert errors(created) == []
    updated = VALID | {"type": "invoice.updated"}
    assert errors(updated) == []
    assert errors(changed("data.previous_status", "paid")) == []
