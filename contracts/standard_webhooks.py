"""Standard Webhooks signatures: verifying SimplePay's callbacks and signing the relay's own deliveries.

`webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
so a rotated secret can sign beside the old one. Secrets are `whsec_` + base64 of the key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime

from contracts.errors import CallbackUnauthorized

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
#: Verifiers accept timestamps this many seconds either side of their clock.
TOLERANCE_SECONDS = 300


def new_secret(key_bytes: int = 32) -> str:
    """A fresh subscription secret. Reads the OS random source, not the clock: allowed in `contracts`."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(key_bytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret. `ValueError` when it is not one."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a whsec_ secret") from exc


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per key, space-separated."""
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def verify(headers: Mapping[str, str], body: bytes, key: bytes, *, now: datetime) -> str:
    """Check Standard Webhooks headers (names in lower case); returns the `webhook-id`."""
    msg_id = headers.get("webhook-id", "")
    timestamp_text = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp_text or not signatures:
        raise CallbackUnauthorized("missing Standard Webhooks headers")
    # isascii: str.isdigit() admits "²", which int() refuses; the length keeps int() and float() in range.
    if not (timestamp_text.isascii() and timestamp_text.isdigit()) or len(timestamp_text) > 15:
        raise CallbackUnauthorized("webhook-timestamp is not a unix time")
    timestamp = int(timestamp_text)
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise CallbackUnauthorized("webhook-timestamp outside the tolerance")
    expected = sign(key, msg_id, timestamp, body).encode()
    for candidate in signatures.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(expected, candidate.encode()):
            return msg_id
    raise CallbackUnauthorized("no webhook-signature matches")
