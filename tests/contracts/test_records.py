"""List answers read shallowly: records kept as their exact text, read in part or in full only when asked."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import cryptocloud
from contracts.accounts import Account
from contracts.answers import records_body
from contracts.changes import source_digest
from contracts.errors import ProviderTransient
from contracts.fields import record_id_of
from contracts.jsonio import loads_exact
from contracts.records import RawRecord, loads_records
from contracts.wire import HttpResponse

RECORD = (
    b'{"uuid": "INV-A1",  "n": 7, "amount": 100.10, "tiny": 0.000000000000000001, "none": null,'
    b' "nested": {"symbol": "USDT", "rate": 1.50}, "list": [1, "x"], "big": 123456789012345678901234567890}'
)
PAGE = b'{"status": "success", "result": [' + RECORD + b', [1, 2], 3.5, "text", null], "all_count": 5}'
CONTEXT = b"1|cryptocloud|shop|USD|||"


def records_of(page: bytes) -> list[RawRecord]:
    records = loads_records(page)["result"]
    assert all(isinstance(record, RawRecord) for record in records)
    return list(records)


def test_an_envelope_keeps_its_records_raw_and_parses_the_rest() -> None:
    document = loads_records(PAGE)
    assert document["status"] == "success"
    assert document["all_count"] == 5
    assert [bytes(record.body) for record in document["result"]] == [RECORD, b"[1, 2]", b"3.5", b'"text"', b"null"]


def test_only_arrays_directly_under_the_envelope_are_kept_raw() -> None:
    document = loads_records(b'{"data": {"items": [1.5]}, "empty": [], "text": "[x]"}')
    assert document == {"data": {"items": [Decimal("1.5")]}, "empty": [], "text": "[x]"}


def test_a_top_level_array_is_a_list_of_raw_records() -> None:
    records = loads_records(b" [ " + RECORD + b" , {} ] ")
    assert [bytes(record.body) for record in records] == [RECORD, b"{}"]


@pytest.mark.parametrize("body", [b"12", b' "text" ', b"null", b"true", b"1.50"])
def test_other_json_is_parsed_in_full(body: bytes) -> None:
    assert loads_records(body) == loads_exact(body)


def test_the_source_digest_is_of_the_exact_bytes() -> None:
    [record, *_] = records_of(PAGE)
    assert source_digest(CONTEXT, record) == hashlib.sha256(CONTEXT + RECORD).hexdigest()[:32]
    respaced = RawRecord(RECORD.replace(b"  ", b" "))
    assert respaced.value() == record.value()
    assert source_digest(CONTEXT, respaced) != source_digest(CONTEXT, record)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("uuid", "INV-A1"),
        ("n", 7),
        ("amount", Decimal("100.10")),
        ("tiny", Decimal("0.000000000000000001")),
        ("none", None),
        ("missing", None),
        ("nested", {"symbol": "USDT", "rate": Decimal("1.50")}),
        ("list", [1, "x"]),
        ("big", 123456789012345678901234567890),
        ("symbol", None),  # nested fields are not top-level fields
    ],
)
def test_get_reads_one_field_as_the_full_parse_does(name: str, value: object) -> None:
    [record, *_] = records_of(PAGE)
    found = record.get(name)
    assert found == value
    assert type(found) is type(value)  # Decimal stays Decimal, not float; an int stays an int
    assert found == record.value().get(name)


def test_get_of_a_record_that_is_not_an_object_is_none() -> None:
    for record in records_of(PAGE)[1:]:
        assert record.get("uuid") is None
        assert record_id_of(record, "uuid") is None


def test_record_ids_are_read_without_parsing() -> None:
    record = RawRecord(b'{"invoice_id": 123, "uuid": "INV-A1", "flag": true}')
    assert record_id_of(record, "invoice_id") == "123"
    assert record_id_of(record, "uuid") == "INV-A1"
    assert record_id_of(record, "flag") is None


def test_get_of_a_name_msgspec_cannot_match_reads_the_full_parse() -> None:
    assert RawRecord(b'{"a\\"b": 1, "c\\\\d": 2}').get('a"b') == 1
    assert RawRecord(b'{"a\\"b": 1, "c\\\\d": 2}').get("c\\d") == 2


def test_get_of_invalid_json_raises_value_error() -> None:
    with pytest.raises(ValueError, match="invalid JSON"):
        RawRecord(b'{"uuid": "INV-').get("uuid")


def test_value_is_the_full_parse_made_once() -> None:
    [record, *_] = records_of(PAGE)
    value = record.value()
    assert value == loads_exact(RECORD)
    assert value["amount"] == Decimal("100.10")
    assert record.value() is value
    assert record.get("nested") is value["nested"]  # once parsed, fields are read from the parse


def test_duplicate_keys_read_like_loads_exact() -> None:
    body = b'{"uuid": "INV-FIRST", "uuid": "INV-LAST"}'
    assert RawRecord(body).get("uuid") == RawRecord(body).value()["uuid"] == loads_exact(body)["uuid"] == "INV-LAST"
    assert loads_records(b'{"result": [1], "result": [2]}')["result"][0].value() == 2


def test_a_translated_raw_record_keeps_the_parsed_record_as_raw() -> None:
    account = Account(name="shop", provider="cryptocloud", base_url="https://x")
    [record, *_] = records_of(b'{"result": [{"uuid": "INV-A1", "status": "paid", "amount": 1.50}]}')
    invoice = cryptocloud.translate(account, record)
    assert invoice.invoice_id == "INV-A1"
    assert invoice.raw == {"uuid": "INV-A1", "status": "paid", "amount": Decimal("1.50")}
    assert invoice.raw is record.value()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"status": "success", "result": [{"uuid": "INV-A1"}, {"uuid": "INV-',  # truncated
        b'{"status": "success", "result": [{"uuid": "INV-A1"}]',
        b'[{"uuid": "INV-A1",}]',
        b'[{"amount": NaN}]',
        b'[{"amount": 01}]',
        b'[{"uuid": "\\x"}]',
        b'[{"uuid": "\xff"}]',  # not UTF-8, inside a record left unparsed
        b'[{"uuid": "\xc3"}]',  # a truncated UTF-8 sequence
        b'{"result": [["\xed\xa0\x80"]]}',  # a surrogate encoded in UTF-8
        b'[{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        b"[{}] []",
        b"<html>502 Bad Gateway</html>",
    ],
)
def test_invalid_json_is_refused_whole(body: bytes) -> None:
    with pytest.raises(ValueError):
        loads_exact(body)
    with pytest.raises(ValueError, match="invalid JSON"):
        loads_records(body)
    with pytest.raises(ProviderTransient, match="not JSON"):
        records_body(HttpResponse(status=200, headers={}, body=body), "prov", "uuid")


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
names = st.sampled_from(["uuid", "id", "", "é", "a b"]) | st.text(max_size=6)


def resolved(document: Any) -> Any:
    """A `loads_records` result with every record parsed: what `loads_exact` gives for the same body."""
    if isinstance(document, list):
        return [record.value() for record in document]
    if isinstance(document, dict):
        return {key: resolved(value) if isinstance(value, list) else value for key, value in document.items()}
    return document


@given(st.lists(st.dictionaries(names, json_values, max_size=5), max_size=6), st.booleans(), st.booleans())
def test_shallow_then_value_equals_the_full_parse(records: list[Any], enveloped: bool, ascii_only: bool) -> None:
    body = json.dumps({"ok": True, "body": records} if enveloped else records, ensure_ascii=ascii_only).encode()
    assert resolved(loads_records(body)) == loads_exact(body)


@given(json_values, names)
def test_get_equals_reading_the_full_parse(value: Any, name: str) -> None:
    body = json.dumps(value, ensure_ascii=False).encode()
    parsed = loads_exact(body)
    assert RawRecord(body).get(name) == (parsed.get(name) if isinstance(parsed, dict) else None)


@given(st.lists(st.dictionaries(names, json_values, max_size=3), max_size=3), st.data())
def test_a_damaged_page_is_refused_exactly_when_loads_exact_refuses_it(records: list[Any], data: st.DataObject) -> None:
    body = bytearray(json.dumps({"result": records}, ensure_ascii=False).encode())
    position = data.draw(st.integers(0, len(body)))
    if data.draw(st.booleans()):
        del body[position:]
    else:
        body[position:position] = data.draw(st.binary(min_size=1, max_size=2))
    try:
        expected = loads_exact(bytes(body))
    except ValueError:
        with pytest.raises(ValueError):
            loads_records(bytes(body))
        return
    assert resolved(loads_records(bytes(body))) == expected


def test_ids_are_read_for_the_whole_page_and_match_reading_them_one_by_one() -> None:
    body = b'[{"id": "a", "x": [1, {"id": "inner"}]}, {"x": 1}, {"id": 7}, {"id": 1.5}, {"id": "b", "id": "c"}]'
    together = loads_records(body, "id")
    alone = loads_records(body)
    assert [r.get("id") for r in together] == [r.get("id") for r in alone] == ["a", None, 7, Decimal("1.5"), "c"]
    assert [r._known_name for r in together] == ["id"] * 5  # read in the one pass, not one by one
    assert [r._known_name for r in alone] == [None] * 5


def test_a_page_with_an_item_that_is_not_an_object_reads_ids_one_by_one() -> None:
    records = loads_records(b'{"ok": true, "body": [{"id": "a"}, 3, ["id"], {"id": "b"}]}', "id")["body"]
    assert [r.get("id") for r in records] == ["a", None, None, "b"]
    assert [r.value() for r in records] == [{"id": "a"}, 3, ["id"], {"id": "b"}]
