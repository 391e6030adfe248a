"""HS256 JWT verification (CryptoCloud postbacks) against tokens made by PyJWT and by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from contracts.errors import CallbackUnauthorized
from contracts.jwt import LEEWAY_SECONDS, verify_hs256

KEY = b"cryptocloud-secret-key-0123456789abcdef"  # >= 32 bytes: PyJWT warns about shorter HMAC keys
OTHER_KEY = b"another-secret-key-0123456789abcdefgh"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
EPOCH_NOW = int(NOW.timestamp())
CLAIMS = {"id": "INV-8F3K2L1Q", "exp": EPOCH_NOW + 3600}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs256_mac(signing_input: str, key: bytes = KEY) -> str:
    return b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def hand_made(header: Any, claims: Any, key: bytes = KEY) -> str:
    """A token whose signature is a genuine HS256 MAC over its first two segments, whatever the header says."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    return f"{signing_input}.{hs256_mac(signing_input, key)}"


def refused(token: str, key: bytes = KEY, now: datetime = NOW) -> CallbackUnauthorized:
    with pytest.raises(CallbackUnauthorized) as caught:
        verify_hs256(token, key, now=now)
    assert caught.value.http_status == 401
    return caught.value


def test_a_pyjwt_token_is_accepted() -> None:
    token = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    assert verify_hs256(token, KEY, now=NOW) == CLAIMS


def test_claims_come_back_whole() -> None:
    claims = {**CLAIMS, "invoice_info": {"amount": 100.5, "currency": "USD"}, "name": "caf\u00e9", "iat": EPOCH_NOW}
    token = jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": "1"})
    assert verify_hs256(token, KEY, now=NOW) == claims


def test_the_hand_made_helper_makes_valid_tokens() -> None:
    """The refusals below built with `hand_made` differ from an accepted token only in what they test."""
    token = hand_made({"alg": "HS256", "typ": "JWT"}, CLAIMS)
    assert verify_hs256(token, KEY, now=NOW) == CLAIMS
    assert jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False}) == CLAIMS


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (3600, True),
        (1, True),
        (0, True),  # expiring this second: within the leeway
        (-(LEEWAY_SECONDS - 1), True),
        (-LEEWAY_SECONDS, False),
        (-(LEEWAY_SECONDS + 1), False),
        (-3600, False),
    ],
)
def test_expiry_with_leeway(offset: int, accepted: bool) -> None:
    token = jwt.encode({**CLAIMS, "exp": EPOCH_NOW + offset}, KEY, algorithm="HS256")
    if accepted:
        assert verify_hs256(token, KEY, now=NOW)["exp"] == EPOCH_NOW + offset
    else:
        assert "expired" in str(refused(token))


def test_the_clock_is_the_one_handed_in() -> None:
    token = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    assert verify_hs256(token, KEY, now=NOW + timedelta(hours=1))
    refused(token, now=NOW + timedelta(hours=1, seconds=LEEWAY_SECONDS))


def test_fractional_exp_is_accepted() -> None:
    token = jwt.encode({**CLAIMS, "exp": EPOCH_NOW + 0.5}, KEY, algorithm="HS256")
    assert verify_hs256(token, KEY, now=NOW)["exp"] == EPOCH_NOW + 0.5


@pytest.mark.parametrize(("offset", "accepted"), [(LEEWAY_SECONDS, True), (LEEWAY_SECONDS + 1, False), (-100, True)])
def test_not_before(offset: int, accepted: bool) -> None:
    token = jwt.encode({**CLAIMS, "nbf": EPOCH_NOW + offset}, KEY, algorithm="HS256")
    if accepted:
        assert verify_hs256(token, KEY, now=NOW)
    else:
        assert "not yet valid" in str(refused(token))


def test_wrong_key() -> None:
    token = jwt.encode(CLAIMS, OTHER_KEY, algorithm="HS256")
    assert "signature" in str(refused(token))


def test_empty_key_is_refused_even_for_a_token_signed_with_it() -> None:
    token = hand_made({"alg": "HS256"}, CLAIMS, key=b"")
    assert "no signing key" in str(refused(token, key=b""))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "None"},
        {"alg": "NONE"},
        {"alg": "RS256", "typ": "JWT"},
        {"alg": "HS512", "typ": "JWT"},
        {"alg": "HS384"},
        {"alg": "ES256"},
        {"alg": "hs256"},
        {"alg": ""},
        {"typ": "JWT"},
        {"alg": ["HS256"]},
    ],
)
def test_only_hs256_even_with_a_valid_hs256_mac(header: dict[str, Any]) -> None:
    assert "algorithm" in str(refused(hand_made(header, CLAIMS)))


def test_alg_none_without_signature() -> None:
    unsigned = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(CLAIMS)}."
    refused(unsigned)


def test_pyjwt_tokens_of_other_hmac_algorithms_are_refused() -> None:
    for algorithm in ("HS384", "HS512"):
        refused(jwt.encode(CLAIMS, KEY + b"-long-enough-for-hs512-0123456789", algorithm=algorithm))


@pytest.mark.parametrize(
    "claims",
    [
        {"id": "INV-1"},
        {"id": "INV-1", "exp": str(EPOCH_NOW + 3600)},
        {"id": "INV-1", "exp": None},
        {"id": "INV-1", "exp": True},
        {"id": "INV-1", "exp": [EPOCH_NOW + 3600]},
    ],
)
def test_exp_is_required_and_numeric(claims: dict[str, Any]) -> None:
    assert "exp" in str(refused(hand_made({"alg": "HS256"}, claims)))


@pytest.mark.parametrize("claims", [[1, 2], "text", 5, None])
def test_claims_must_be_an_object(claims: Any) -> None:
    refused(hand_made({"alg": "HS256"}, claims))


def test_tampered_payload() -> None:
    token = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    header, _, signature = token.split(".")
    forged = f"{header}.{segment({**CLAIMS, 'id': 'INV-OTHER'})}.{signature}"
    assert "signature" in str(refused(forged))


def test_tampered_header() -> None:
    token = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    _, claims, signature = token.split(".")
    forged = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': 'x'})}.{claims}.{signature}"
    refused(forged)


def test_tampered_signature() -> None:
    token = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    head, _, signature = token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    refused(f"{head}.{flipped}")
    refused(f"{head}.")
    refused(f"{head}.{signature[:-4]}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "..",
        "...",
        "!!!.###.$$$",
        "Bearer x.y.z",
        ".x.y",
        "x..y",
        "\u00e9.\u00e9.\u00e9",
        f"{b64url(b'not json')}.{segment(CLAIMS)}.sig",
        f"{segment([1])}.{segment(CLAIMS)}.sig",
        f"{segment('HS256')}.{segment(CLAIMS)}.sig",
        f"{b64url(b'{')}.{segment(CLAIMS)}.sig",
        f"{b64url(bytes([0xFF, 0xFE]))}.{segment(CLAIMS)}.sig",
    ],
)
def test_garbage(token: str) -> None:
    refused(token)


def test_two_or_four_segments() -> None:
    token = jwt.encode(CLAIMS, KEY, algorithm="HS256")
    header, claims, signature = token.split(".")
    refused(f"{header}.{claims}")
    refused(f"{header}.{signature}")
    refused(f"{token}.{signature}")
    refused(f"{header}.{claims}.{signature}.")
    refused(f"{token}.x.y")  # five: a JWE's shape


def test_claims_that_are_not_json_even_with_a_valid_mac() -> None:
    signing_input = f"{segment({'alg': 'HS256'})}.{b64url(b'{not json')}"
    refused(f"{signing_input}.{hs256_mac(signing_input)}")
