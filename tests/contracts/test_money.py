from decimal import Decimal

import pytest

from contracts.money import format_amount, parse_amount


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
