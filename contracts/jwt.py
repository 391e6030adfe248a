"""Verification of HS256 JSON Web Tokens (CryptoCloud postbacks), with the algorithm pinned.

Written here rather than taken from a library so that the rules are visible in one place: only
`alg: HS256` is accepted (no `none`, no RS256 key confusion), `exp` is required and enforced against the
`now` the caller hands in, and the signature is compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Any

import orjson

from contracts.errors import CallbackUnauthorized

#: Tolerated clock difference between the provider and the relay, in seconds.
LEEWAY_SECONDS = 30


def _b64url_decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CallbackUnauthorized("token is not base64url") from exc


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CallbackUnauthorized(f"token {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise CallbackUnauthorized(f"token {what} is not an object")
    return value


def verify_hs256(token: str, key: bytes, *, now: datetime) -> dict[str, Any]:
    """The token's claims when it is a valid, unexpired HS256 JWT signed with `key`."""
    if not key:
        raise CallbackUnauthorized("no signing key configured")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise CallbackUnauthorized("token is not a JWS compact serialization")
    header = _json_object(_b64url_decode(parts[0]), "header")
    if header.get("alg") != "HS256":
        raise CallbackUnauthorized("token algorithm is not HS256")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url_decode(parts[2])):
        raise CallbackUnauthorized("token signature does not match")
    claims = _json_object(_b64url_decode(parts[1]), "claims")
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise CallbackUnauthorized("token has no numeric exp claim")
    instant = now.timestamp()
    if expires + LEEWAY_SECONDS <= instant:
        raise CallbackUnauthorized("token expired")
    not_before = claims.get("nbf")
    if (
        isinstance(not_before, int | float)
        and not isinstance(not_before, bool)
        and not_before > instant + LEEWAY_SECONDS
    ):
        raise CallbackUnauthorized("token not yet valid")
    return claims
