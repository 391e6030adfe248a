"""JSON without losing a digit: provider bodies in, event bodies out."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.jsonio import dumps, loads_exact


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100.10", Decimal("100.10")),
        ("50.0", Decimal("50.0")),
        ("0.000000000000000001", Decimal("0.000000000000000001")),
        (
            "123456789012345678901234567890.123456789012345678",
            Decimal("123456789012345678901234567890.123456789012345678"),
        ),
        ("1e5", Decimal("1E+5")),
        ("-0.0", Decimal("-0.0")),
    ],
)
def test_loads_exact_keeps_digits(text: str, value: Decimal) -> None:
    parsed = loads_exact(text)
    assert isinstance(parsed, Decimal)
    assert parsed == value
    assert parsed.as_tuple() == value.as_tuple()  # same digits and exponent, not just the same value


def test_loads_exact_body_shapes() -> None:
    document = loads_exact(b'{"amount": 100.10, "count": 3, "ok": true, "none": null, "list": [1.50, "x"]}')
    assert document == {
        "amount": Decimal("100.10"),
        "count": 3,
        "ok": True,
        "none": None,
        "list": [Decimal("1.50"), "x"],
    }
    assert str(document["amount"]) == "100.10"
    assert type(document["count"]) is int
    assert loads_exact('"caf\u00e9"') == "caf\u00e9"
    assert loads_exact("caf\u00e9".join(['"', '"']).encode()) == "caf\u00e9"


@pytest.mark.parametrize("number", [2**63 - 1, -(2**63), 2**64 - 1])
def test_64_bit_integers_stay_int(number: int) -> None:
    parsed = loads_exact(str(number))
    assert type(parsed) is int
    assert parsed == number
    assert dumps(parsed) == str(number).encode()


@pytest.mark.parametrize("text", [str(2**64), str(-(2**63) - 1), "123456789012345678901234567890", "9" * 300])
def test_larger_integers_survive_a_round_trip(text: str) -> None:
    """orjson cannot write integers beyond 64 bits; they come back out as the same digits all the same."""
    parsed = loads_exact(text)
    assert parsed == Decimal(text)
    assert dumps(parsed) == text.encode()
    assert dumps({"id": parsed}) == b'{"id":' + text.encode() + b"}"


@pytest.mark.parametrize(
    "text",
    [
        "100.10",
        "0.00012",
        "0.00000001",
        "0.00000099",
        "0.000000000000000001",
        "-5.50",
        "0.0",
        "-0.0",
        "1E+5",
        "1.0E+5",
        "123456789012345678901234567890.000000000000000000001",
        '[1.50,2.500,{"a":0.10}]',
    ],
)
def test_numbers_come_out_as_they_came_in(text: str) -> None:
    assert dumps(loads_exact(text)) == text.encode()


plain_numbers = st.from_regex(r"-?(0|[1-9][0-9]{0,30})\.[0-9]{1,40}", fullmatch=True)


@given(plain_numbers)
def test_plain_decimal_text_round_trips_verbatim(text: str) -> None:
    assert dumps(loads_exact(text)) == text.encode()
    assert dumps(loads_exact(f'{{"n":[{text}]}}')) == f'{{"n":[{text}]}}'.encode()


@given(st.from_regex(r"-?(0|[1-9][0-9]{0,5})(\.[0-9]{1,5})?[eE][+-]?[0-9]{1,3}", fullmatch=True))
def test_exponent_text_round_trips_by_value(text: str) -> None:
    out = dumps(loads_exact(text))
    assert Decimal(out.decode()) == Decimal(text)
    assert json.loads(out) == json.loads(text)


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # beyond: see test_larger_integers_survive_a_round_trip
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_dumps_then_loads_round_trips(value: Any) -> None:
    body = dumps(value)
    assert loads_exact(body) == value
    assert dumps(loads_exact(body)) == body  # stable text
    json.loads(body)  # standard JSON for any other reader


def test_dumps_sort_keys() -> None:
    assert dumps({"b": 1, "a": 2}) == b'{"b":1,"a":2}'
    assert dumps({"b": 1, "a": {"d": 1, "c": 2}}, sort_keys=True) == b'{"a":{"c":2,"d":1},"b":1}'


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_dumps_refuses_non_finite_decimals(value: Decimal) -> None:
    with pytest.raises(TypeError):
        dumps({"amount": value})


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", complex(1, 2)])
def test_dumps_refuses_what_is_not_json(value: object) -> None:
    with pytest.raises(TypeError):
        dumps([value])


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b'{"amount": 100.10',  # truncated
        b'{"a": 1,}',
        b"[1, 2",
        b"{'a': 1}",
        b"NaN",
        b"[Infinity]",
        b'{"amount": -Infinity}',
        b"nan",
        b"01",
        b"1.",
        b".5",
        b"0x10",
        b"\xff\xfe{}",
        b'"\xc3"',  # a truncated UTF-8 sequence
        b"<html>502 Bad Gateway</html>",
        b"[" * 100_000,
        "{}\ud800".encode("utf-8", "surrogatepass"),
        "undefined",
    ],
)
def test_loads_exact_refuses_invalid_json(body: bytes | str) -> None:
    with pytest.raises(ValueError):
        loads_exact(body)
