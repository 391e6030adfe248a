"""Reading one provider record: typed values, and a `RecordError` naming the field (its dotted path) and
the record for anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, assert_type
from zoneinfo import ZoneInfo

import pytest

from contracts.errors import RecordError
from contracts.fields import RecordReader, id_text, record_id_of

RECORD: dict[str, Any] = {
    "id": "inv-1",
    "status": "paid",
    "number": 42,
    "amount": Decimal("10.50"),
    "created": "2024-01-02 03:04:05",
    "test": True,
    "currency": {"symbol": "USDT", "network": {"name": "TRON", "fee": "x"}},
}


def reader(**changes: Any) -> RecordReader:
    return RecordReader.of({**RECORD, **changes}, "id")


def refused(read: Any, *args: Any, **kwargs: Any) -> RecordError:
    with pytest.raises(RecordError) as caught:
        read(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("value", "text"),
    [("a", "a"), ("", ""), (0, "0"), (-7, "-7"), (True, None), (None, None), (1.0, None), (["a"], None)],
)
def test_id_text(value: object, text: str | None) -> None:
    assert id_text(value) == text


@pytest.mark.parametrize(
    ("record", "record_id"),
    [({"id": "a"}, "a"), ({"id": 5}, "5"), ({"id": False}, None), ({}, None), (["id"], None), (None, None)],
)
def test_record_id_of(record: object, record_id: str | None) -> None:
    assert record_id_of(record, "id") == record_id


@pytest.mark.parametrize("record", [None, 5, "id", ["id"]])
def test_a_record_that_is_not_an_object_is_refused(record: object) -> None:
    error = refused(RecordReader.of, record, "id")
    assert (error.field, error.record_id) == ("<record>", None)
    assert "expected an object" in str(error)


def test_required_reads_are_typed_as_never_none() -> None:
    read = reader()
    # `assert_type` is checked by mypy, a no-op when run: these pin the overloads providers rely on.
    assert assert_type(read.text("status", required=True), str) == "paid"
    assert assert_type(read.amount("amount"), Decimal) == Decimal("10.50")
    assert assert_type(read.amount("amount", required=True), Decimal) == Decimal("10.50")
    assert assert_type(read.time("created", required=True), datetime) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert assert_type(read.text("missing"), str | None) is None
    assert assert_type(read.amount("missing", required=False), Decimal | None) is None
    assert assert_type(read.time("missing"), datetime | None) is None


@pytest.mark.parametrize(
    ("read", "name", "problem"),
    [
        (lambda r: r.text("missing", required=True), "missing", "required text missing"),
        (lambda r: r.text("blank", required=True), "blank", "required text missing"),
        (lambda r: r.text("test"), "test", "expected text, got bool"),
        (lambda r: r.amount("missing"), "missing", "required amount missing"),
        (lambda r: r.amount("status"), "status", "not a decimal number"),
        (lambda r: r.time("missing", required=True), "missing", "required time missing"),
        (lambda r: r.time("number"), "number", "not a timestamp"),
        (lambda r: r.identifier("missing"), "missing", "required id missing"),
        (lambda r: r.identifier("blank"), "blank", "required id missing"),
        (lambda r: r.identifier("test"), "test", "required id missing"),
        (lambda r: r.boolean("status"), "status", "expected true or false"),
        (lambda r: r.mapping("status"), "status", "expected an object, got str"),
    ],
)
def test_failures_name_field_and_record(read: Any, name: str, problem: str) -> None:
    error = refused(read, reader(blank=""))
    assert (error.field, error.record_id) == (name, "inv-1")
    assert problem in str(error)


def test_optional_reads() -> None:
    read = reader(blank="")
    assert (read.text("blank"), read.text("number"), read.time("blank")) == (None, "42", None)
    assert (read.boolean("test"), read.boolean("missing"), read.mapping("missing")) == (True, None, None)
    assert read.identifier("number") == "42"


def test_zone_less_times_are_read_in_the_zone_given() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    assert reader().time("created", moscow) == datetime(2024, 1, 2, 0, 4, 5, tzinfo=UTC)


def test_nested_reads_like_the_record() -> None:
    currency = reader().nested("currency")
    assert currency.text("symbol", required=True) == "USDT"
    assert currency.nested("network").text("name") == "TRON"
    assert currency.record_id == "inv-1"


@pytest.mark.parametrize(
    ("changes", "read", "field"),
    [
        ({}, lambda r: r.nested("currency").amount("missing"), "currency.missing"),
        ({}, lambda r: r.nested("currency").nested("network").amount("fee"), "currency.network.fee"),
        ({}, lambda r: r.nested("currency").nested("symbol"), "currency.symbol"),
        ({"currency": "USDT"}, lambda r: r.nested("currency"), "currency"),
        # An absent object reads as an empty one: the field required inside it is what is missing.
        ({"currency": None}, lambda r: r.nested("currency").text("symbol", required=True), "currency.symbol"),
        ({"currency": {}}, lambda r: r.nested("currency").text("symbol", required=True), "currency.symbol"),
        ({}, lambda r: r.nested("missing").nested("deeper").time("leaf", required=True), "missing.deeper.leaf"),
    ],
)
def test_nested_failures_name_the_dotted_path(changes: dict[str, Any], read: Any, field: str) -> None:
    error = refused(read, reader(**changes))
    assert (error.field, error.record_id) == (field, "inv-1")
    assert f"field {field!r}" in str(error)


def test_an_absent_nested_object_reads_as_empty() -> None:
    read = reader(currency=None).nested("currency")
    assert (read.record, read.text("symbol")) == ({}, None)
