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


def loads_exact(body: bytes | str) -> Any:
    """Parse JSON, keeping fractional numbers as `Decimal`. Raises `ValueError` on invalid JSON."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError("non-finite Decimal cannot be JSON")
        return orjson.Fragment(str(value))
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: object, *, sort_keys: bool = False) -> bytes:
    """Serialize with orjson; `Decimal` as its exact JSON number text."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    return orjson.dumps(value, default=_default, option=option)
