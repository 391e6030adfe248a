"""Amounts: parsed into `Decimal` without ever passing through a float, rendered as the event contract says."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

#: ASCII digits only: `Decimal()` would also read Arabic-Indic or full-width digits.
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
#: Amounts whose plain rendering would need more digits than this either side of the point are refused:
#: `1e999999999` is a valid Decimal, but `format_amount` would write a billion zeros.
_MAX_PLAIN_DIGITS = 100


def parse_amount(value: object) -> Decimal:
    """A provider amount as an exact `Decimal`.

    Accepts `Decimal` (JSON numbers are parsed into it, see `jsonio`), `int` and decimal text. A float
    here would already have lost digits, so it is refused like any other type: the caller turns the
    `ValueError` into a `RecordError` naming the field.
    """
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"not a decimal number: {value!r}")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid text
            raise ValueError(f"not a decimal number: {value!r}") from exc
    else:
        raise ValueError(f"not an amount: {type(value).__name__}")
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    exponent = amount.as_tuple().exponent
    if amount.adjusted() >= _MAX_PLAIN_DIGITS or (isinstance(exponent, int) and exponent < -_MAX_PLAIN_DIGITS):
        raise ValueError(f"amount out of range: {value!r}")
    return amount


def format_amount(amount: Decimal) -> str:
    """Plain decimal text: no exponent, at least two fraction digits, every digit kept.

    `Decimal("50.0")` -> "50.00", `Decimal("0.00012")` -> "0.00012", `Decimal("1E+2")` -> "100.00".
    """
    text = f"{amount:f}"
    whole, _, fraction = text.partition(".")
    if len(fraction) < 2:
        fraction = fraction.ljust(2, "0")
    return f"{whole}.{fraction}"


def scale_minor_units(amount: Decimal, digits: int = 2) -> Decimal:
    """Integer minor units (cents) to major units, exactly: 500 -> 5.00."""
    sign, digit_tuple, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite amount: {amount!r}")
    # Not `scaleb`: it rounds to the context precision (28 digits).
    return Decimal((sign, digit_tuple, exponent - digits))
