import re
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.money import format_amount, parse_amount, scale_minor_units

#: The event contract: plain decimal text, no exponent, at least two fraction digits (the schema's pattern, ASCII only).
RENDERED = re.compile(r"-?[0-9]+\.[0-9]{2,}", re.ASCII)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [("50.0", "50.00"), ("0.00012", "0.00012"), ("1E+2", "100.00"), ("100", "100.00"), ("1.000", "1.000")],
)
def test_format_amount_keeps_every_digit(text: str, rendered: str) -> None:
    assert format_amount(parse_amount(text)) == rendered


def test_parse_amount_refuses_floats() -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount(0.1)
    assert parse_amount(Decimal("0.1")) == Decimal("0.1")


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (Decimal("100"), "100.00"),
        (Decimal("100.1"), "100.10"),
        (Decimal("100.10"), "100.10"),
        (Decimal("0.000000000000000001"), "0.000000000000000001"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("1.5E+3"), "1500.00"),
        (Decimal("0"), "0.00"),
        (Decimal("0E-7"), "0.0000000"),
        (Decimal("0E+3"), "0.00"),
        (Decimal("-0.5"), "-0.50"),
        (Decimal("-12345678901234567890.123456789012345678"), "-12345678901234567890.123456789012345678"),
        (5, "5.00"),
        (-5, "-5.00"),
        (10**30, "1000000000000000000000000000000.00"),
        (" 50.00\n", "50.00"),
        ("+7", "7.00"),
        ("-.5", "-0.50"),
        ("5.", "5.00"),
        ("1e5", "100000.00"),
        ("1.23E-2", "0.0123"),
    ],
)
def test_parse_then_format(value: object, rendered: str) -> None:
    assert format_amount(parse_amount(value)) == rendered


# Property: any finite amount renders to plain text that is exactly the same number, with every digit.

finite_decimals = st.builds(
    lambda sign, coefficient, exponent: Decimal(f"{sign}{coefficient}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.integers(min_value=0, max_value=10**40),
    st.integers(min_value=-60, max_value=60),
) | st.decimals(allow_nan=False, allow_infinity=False)


def expected_fraction_digits(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(2, -exponent)


def in_range(amount: Decimal) -> bool:
    """Amounts `parse_amount` takes: plain renderings under 100 digits either side of the point."""
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return amount.adjusted() < 100 and exponent >= -100


@given(finite_decimals)
def test_format_amount_is_plain_exact_and_keeps_digits(amount: Decimal) -> None:
    if not in_range(amount):
        with pytest.raises(ValueError, match="out of range"):
            parse_amount(amount)
        return
    rendered = format_amount(parse_amount(amount))
    assert RENDERED.fullmatch(rendered), rendered
    assert "e" not in rendered.lower()
    assert Decimal(rendered) == amount
    assert len(rendered.partition(".")[2]) == expected_fraction_digits(amount)
    # Rendering is stable: its own output renders to itself.
    assert format_amount(parse_amount(rendered)) == rendered


decimal_text = st.from_regex(r"[+-]?([0-9]{1,25}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][+-]?[0-6]?[0-9])?", fullmatch=True)


@given(decimal_text)
def test_decimal_text_renders_to_the_same_value(text: str) -> None:
    amount = parse_amount(text)
    rendered = format_amount(amount)
    assert RENDERED.fullmatch(rendered), rendered
    assert Decimal(rendered) == Decimal(text)
    assert len(rendered.partition(".")[2]) == expected_fraction_digits(Decimal(text))


@given(st.from_regex(r"-?(0|[1-9][0-9]{0,19})\.[0-9]{2,18}", fullmatch=True))
def test_plain_text_with_two_or_more_decimals_is_kept_verbatim(text: str) -> None:
    """What most providers send: the rendering is the provider's own text, character for character."""
    assert format_amount(parse_amount(text)) == text


@pytest.mark.parametrize(
    "value",
    [
        0.1,
        1.0,
        float("nan"),
        float("inf"),
        True,
        False,
        None,
        [],
        {},
        b"1.00",
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "abc",
        "",
        " ",
        ".",
        "-",
        "1.2.3",
        "1,50",
        "1 000",
        "1_000",
        "0x10",
        "1e",
        "e5",
        "--1",
        "\u0661\u0662\u0663",  # Arabic-Indic digits: Decimal() would take them
        "\uff11\uff12",  # full-width digits
        "1e999999999",
        "1e-999999999",
        Decimal("1E+999999999"),
        Decimal("1E-999999999"),
        10**200,
    ],
)
def test_parse_amount_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(value)


@pytest.mark.parametrize("value", ["1e99", "1e-100", Decimal("9" * 100)])
def test_parse_amount_range_edges_are_accepted(value: object) -> None:
    assert RENDERED.fullmatch(format_amount(parse_amount(value)))


@pytest.mark.parametrize(
    ("minor", "digits", "major", "rendered"),
    [
        (Decimal(500), 2, Decimal("5.00"), "5.00"),
        (Decimal(1), 2, Decimal("0.01"), "0.01"),
        (Decimal(0), 2, Decimal("0.00"), "0.00"),
        (Decimal(-1999), 2, Decimal("-19.99"), "-19.99"),
        (Decimal(12345), 3, Decimal("12.345"), "12.345"),
        (Decimal(7), 0, Decimal("7"), "7.00"),
        (Decimal("50.5"), 2, Decimal("0.505"), "0.505"),
        (Decimal(10**40 + 1), 2, Decimal(f"{10**38}.01"), f"{10**38}.01"),
    ],
)
def test_scale_minor_units(minor: Decimal, digits: int, major: Decimal, rendered: str) -> None:
    scaled = scale_minor_units(minor, digits)
    assert scaled == major
    assert format_amount(scaled) == rendered


@given(st.integers(min_value=-(10**60), max_value=10**60), st.integers(min_value=0, max_value=8))
def test_scale_minor_units_is_exact(minor: int, digits: int) -> None:
    scaled = scale_minor_units(Decimal(minor), digits)
    with localcontext() as exact:
        exact.prec = 200  # the default 28 digits would round the check itself
        assert scaled * 10**digits == minor
        assert scaled.as_tuple().exponent == -digits
        whole, _, fraction = format_amount(scaled).partition(".")
        assert len(fraction) == max(2, digits)
        assert Decimal(f"{whole}.{fraction}") * 10**digits == minor


def test_scale_minor_units_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        scale_minor_units(Decimal("NaN"))
