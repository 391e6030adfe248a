"""JSON in and out without losing a digit.

Provider bodies are parsed with JSON numbers that have a fraction or exponent kept as `Decimal` (orjson
would turn them into floats, and `100.10` or an 18-decimal crypto amount must survive exactly). Output
goes through orjson; `Decimal` values are written back as the same JSON number text they came in as.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

#: The integers orjson can write; longer ones are kept as `Decimal` so that they can be written back.
_MIN_INTEGER = -(2**63)
_MAX_INTEGER = 2**64 - 1


def _parse_int(text: str) -> int | Decimal:
    # Comparisons, not `in range(...)`: membership of a non-int in a range is a linear scan.
    number = int(text)
    return number if _MIN_INTEGER <= number <= _MAX_INTEGER else Decimal(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a JSON value")


def loads_exact(body: bytes | str) -> Any:
    """Parse JSON, keeping fractional numbers as `Decimal`. Raises `ValueError` on invalid JSON.

    `NaN` and `Infinity` (which `json` would accept) are invalid JSON; integers beyond 64 bits come
    back as `Decimal`.
    """
    try:
        return json.loads(body, parse_float=Decimal, parse_int=_parse_int, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError("non-finite Decimal cannot be JSON")
        exponent = value.as_tuple().exponent
        # Plain notation, as parsed from plain text ("0.00000001", not str()'s "1E-8"), unless that
        # would mean writing a long run of zeros the input cannot have held.
        plain = isinstance(exponent, int) and exponent <= 0 and value.adjusted() >= -64
        return orjson.Fragment(format(value, "f") if plain else str(value))
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: object, *, sort_keys: bool = False) -> bytes:
    """Serialize with orjson; `Decimal` as its exact JSON number text."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    return orjson.dumps(value, default=_default, option=option)
