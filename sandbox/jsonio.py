"""JSON in and out, with exact decimals.

Provider records hold `Decimal` where the wire must show exact digits (ISP CRM writes `50.00`, a float
would print `50.0`); orjson has no Decimal type, so the digits go out verbatim as a `Fragment`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from sandbox.errors import Problem

JSON = "application/json"


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: object) -> bytes:
    return orjson.dumps(value, default=_default)


def loads_exact(body: bytes) -> Any:
    """Parse an operator body keeping numbers' digits (`50.00` stays Decimal('50.00'), not 50.0)."""
    return json.loads(body, parse_float=Decimal)


def object_body(body: bytes) -> dict[str, Any]:
    """An operator request body: a JSON object, or nothing at all."""
    if not body.strip():
        return {}
    try:
        value = loads_exact(body)
    except ValueError as exc:
        raise Problem(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Problem(400, "body must be a JSON object")
    return value


def respond(value: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(value), status, headers, media_type=JSON)


def respond_raw(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status, headers, media_type=JSON)
