"""Hostile input on `POST /webhooks/{account}`: never a 500, and nothing queued without a valid credential.

In process (the app over httpx.ASGITransport) against a real Valkey, for every callback route of the test
accounts (tests/service/conftest.py): `shop` (cryptocloud), `nosecret` (cryptocloud without secret_key),
`sp` (simplepay), `sms` (smsonline with a callback_token) and `isp` (ispcrm without one). The last test runs
a real uvicorn process and feeds it a body one byte per 0.1 s from a raw socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import select
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from service.state.keys import SYNC_DUE
from service.web import webhooks
from tests.service.conftest import ADMIN, CC_SECRET, NUDGE, SP_API_KEY, SP_WHSEC
from tests.support.procs import Proc
from tests.support.relay import Relay, web_command

pytestmark = pytest.mark.fault

ACCOUNTS = ("shop", "nosecret", "sp", "sms", "isp")
LIMIT = 256 * 1024
#: The Standard Webhooks timestamp tolerance the README promises, in seconds either side of now.
TOLERANCE = 300
#: Configured secrets, each valid nowhere but where the test says so (NUDGE: only as `sms`'s nudge token).
SECRETS = (
    ADMIN,
    CC_SECRET,
    SP_API_KEY,
    SP_WHSEC,
    NUDGE,
    "cc-api-key-0123456789",
    "sms-key-0123456789",
    "isp-token-0123",
)
SP_KEY = base64.b64decode(SP_WHSEC.removeprefix("whsec_"))
NUDGE_HEADERS = {"authorization": f"Bearer {NUDGE}"}

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- signing, written here independently of `contracts` --------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged_jwt(header: object, claims: object, key: bytes | None, digest: Any = hashlib.sha256) -> str:
    """A compact JWS of any header and claims, HMAC-signed with `key` (no signature when None)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = "" if key is None else b64url(hmac.new(key, signing_input.encode(), digest).digest())
    return f"{signing_input}.{signature}"


def cc_token(*, exp_in: float | None = 300, secret: str = CC_SECRET, **claims: Any) -> str:
    body = {"id": "INV-ABCD1234", **claims}
    if exp_in is not None:
        body["exp"] = int(time.time() + exp_in)
    return jwt.encode(body, secret, algorithm="HS256")


def sw_headers(body: bytes, *, msg_id: str = "msg_1", offset: int = 0, key: bytes = SP_KEY) -> dict[str, str]:
    """Standard Webhooks headers over `body`, timestamped `offset` seconds from now: rounded to a whole second
    away from now for an offset outside the tolerance and towards now inside it, so that neither +-301 s nor
    +-299 s crosses the edge of the window while the request is on its way."""
    now = time.time()
    outside = abs(offset) > TOLERANCE
    timestamp = (math.ceil(now) if (offset > 0) == outside else math.floor(now)) + offset
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(mac).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def x_signature(body: bytes, key: str = SP_API_KEY) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


async def queued(redis: Redis) -> list[str]:
    return [member.decode() for member in await redis.zrange(SYNC_DUE, 0, -1)]


async def assert_nothing_queued(redis: Redis) -> None:
    assert await queued(redis) == []
    assert [key async for key in redis.scan_iter(match="relay:seen:*")] == []


# --- strategies ------------------------------------------------------------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(SECRETS),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
header_bytes = st.binary(max_size=60).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b""))
header_texts = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)


@st.composite
def broken_jwts(draw: st.DrawFn) -> str:
    """JWT-shaped tokens that are invalid by construction, many of them signed with the right key."""
    defect = draw(st.sampled_from(["alg", "exp", "nbf", "key", "signature", "shape", "junk"]))
    now = int(time.time())
    alg = "HS256"
    claims: Any = {"id": "INV-ABCD1234", "exp": now + 300}
    key: bytes | None = CC_SECRET.encode()
    if defect == "alg":
        alg = draw(st.sampled_from(["none", "None", "NONE", "HS512", "HS384", "RS256", "ES256", "hs256", "HS256 ", ""]))
    elif defect == "exp":
        # Offsets drawn, then added to the clock: a strategy whose bounds move with time is flaky to Hypothesis.
        claims = draw(
            st.one_of(
                st.integers(max_value=-3600).map(lambda ago: {"exp": now + ago}),
                st.floats(max_value=-3600).map(lambda ago: {"exp": now + ago}),
                st.fixed_dictionaries(
                    {"exp": st.booleans() | st.text(max_size=12) | st.none() | st.lists(st.integers())}
                ),
                json_values.filter(lambda value: not isinstance(value, dict) or "exp" not in value),
            )
        )
    elif defect == "nbf":
        claims["nbf"] = now + draw(st.integers(min_value=3600, max_value=2**40))
    elif defect == "key":
        key = draw(st.sampled_from([s.encode() for s in SECRETS if s != CC_SECRET] + [b"", b"x"]))
    elif defect == "signature":
        key = None
    elif defect == "shape":
        token = forged_jwt({"alg": "HS256", "typ": "JWT"}, claims, key)
        return draw(st.sampled_from([token + ".", token.replace(".", "", 1), "." + token, token[:-3], token + "A", ""]))
    else:
        parts = st.text(st.sampled_from("ABCabc012-_=+/.~%"), max_size=40)
        return ".".join(draw(st.lists(parts, max_size=5)))
    header = draw(st.sampled_from([{"alg": alg}, {"alg": alg, "typ": "JWT"}, {"typ": "JWT", "alg": alg, "kid": "1"}]))
    return forged_jwt(header, claims, key)


def nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"token":' + b"[" * depth + b"]" * depth + b"}"


form_names = st.sampled_from(["token", "invoice_id", "status", ""]) | st.text(max_size=8)
form_values = broken_jwts() | st.text(max_size=30)
bodies: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=512),
    st.sampled_from([b"NaN", b"-Infinity", b'{"token": NaN}', b"{}", b"[]", b"null", b'"token"', b"\xef\xbb\xbf{}"]),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda token, extra: json.dumps({**extra, "token": token}).encode(),
        broken_jwts() | json_values,
        st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    ),
    st.builds(lambda pairs: urlencode(pairs).encode(), st.lists(st.tuples(form_names, form_values), max_size=5)),
    st.builds(nested, st.integers(1, 30_000), st.sampled_from(["list", "object", "token"])),
    st.builds(
        lambda text, encoding: text.encode(encoding, errors="surrogatepass"),
        st.text(max_size=200),
        st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"]),
    ),
)
content_types = (
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-16",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "application/x-www-form-urlencoded; charset=latin-1",
            "multipart/form-data; boundary=xyz",
            "text/plain",
            "",
            "*/*",
        ]
    ).map(str.encode)
    | header_bytes
)
authorizations = st.one_of(
    header_bytes,
    st.sampled_from(SECRETS).map(lambda s: f"Bearer {s}".encode()),
    st.sampled_from(SECRETS).map(lambda s: f"Token {s}".encode()),
    header_texts.map(lambda s: f"Bearer {s}".encode("latin-1")),
    st.sampled_from([b"Bearer", b"Bearer ", b"bearer  ", b"Basic Zm9vOmJhcg=="]),
)


@st.composite
def standard_headers(draw: st.DrawFn, body: bytes) -> dict[str, bytes]:
    """Some of the Standard Webhooks headers, with values that cannot verify."""
    now = int(time.time())
    msg_id = draw(header_texts)
    stale = draw(st.sampled_from([-1, 1])) * draw(st.integers(400, 10**9))
    timestamp = draw(st.sampled_from(["stale", "now", ""]) | header_texts | st.integers().map(str))
    timestamp = {"stale": str(now + stale), "now": str(now)}.get(timestamp, timestamp)
    key = draw(st.sampled_from([s.encode() for s in SECRETS] + [SP_KEY]))
    if key == SP_KEY and timestamp.isascii() and timestamp.isdigit() and abs(int(timestamp) - now) <= 300:
        key = b"another-key"  # the right key is used only with a timestamp outside the tolerance
    mac = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    signature = draw(
        st.sampled_from([f"v1,{mac}", f"v2,{mac}", f"v1,{mac[:-2]}", mac, f"v1a,{mac} v1,"]) | header_texts
    )
    chosen = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    names = draw(st.lists(st.sampled_from(sorted(chosen)), unique=True))
    return {name: chosen[name].encode("latin-1", errors="replace") for name in names}


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes], dict[str, str]]:
    body = draw(bodies)
    headers: dict[str, bytes] = {}
    if draw(st.booleans()):
        headers["content-type"] = draw(content_types)
    if draw(st.booleans()):
        headers["authorization"] = draw(authorizations)
    if draw(st.booleans()):
        headers.update(draw(standard_headers(body)))
    if draw(st.booleans()):
        wrong = st.sampled_from([x_signature(body, s) for s in SECRETS if s != SP_API_KEY])
        headers["x-signature"] = draw(wrong | header_bytes | st.just(x_signature(body + b" ").encode()))
    query: dict[str, str] = {}
    if draw(st.booleans()):
        query["token"] = draw(st.sampled_from(SECRETS) | st.text(max_size=40))
    return body, headers, query


def may_accept(account: str, headers: dict[str, bytes], query: dict[str, str]) -> bool:
    """Whether the request carries a genuine credential for the account: of everything generated, only the
    nudge token of `sms`, in the Authorization header or in the query."""
    offered = headers.get("authorization", b"").decode("latin-1") + " " + query.get("token", "")
    return account == "sms" and NUDGE in offered


# --- fuzzing every route ---------------------------------------------------------------------------


@pytest.mark.parametrize("account", ACCOUNTS)
@FUZZ
@given(hostile=hostile_requests())
async def test_hostile_callbacks_never_500_and_queue_nothing_unsigned(
    client: httpx.AsyncClient, redis: Redis, account: str, hostile: tuple[bytes, dict[str, bytes], dict[str, str]]
) -> None:
    body, headers, query = hostile
    await redis.flushdb()
    response = await client.post(f"/webhooks/{account}", content=body, headers=headers, params=query)
    event(f"status {response.status_code}")
    accepted = may_accept(account, headers, query)
    assert response.status_code in ({400, 401} | ({202} if accepted else set())), response.text
    assert response.headers["content-type"] == "application/json"
    if response.status_code == 202:
        assert await queued(redis) == [account]
    else:
        # A verifier's own refusal, with its reason; not the catch-all `malformed` of a verifier that crashed.
        refusal = response.json()
        assert refusal["error"] == "refused", response.text
        assert refusal["detail"], response.text
        await assert_nothing_queued(redis)


#: What a nudge may carry: nothing (read the whole account) or the invoices to read back.
nudge_ids = st.text(min_size=1, max_size=128).filter(lambda t: t.isprintable() and t == t.strip())
nudge_bodies = st.one_of(
    st.sampled_from([b"", b" ", b"\r\n"]),
    st.lists(nudge_ids, min_size=1, max_size=100).map(lambda ids: json.dumps({"invoice_ids": ids}).encode()),
)


@st.composite
def signed_hostile_requests(draw: st.DrawFn, account: str) -> tuple[bytes, dict[str, bytes]]:
    """A genuine credential for `account`, with everything around it hostile."""
    extra = draw(st.dictionaries(st.text(max_size=10).filter(lambda k: k != "token"), json_values, max_size=5))
    headers: dict[str, bytes] = {}
    if account == "shop":
        if draw(st.booleans()):
            body = json.dumps({**extra, "token": cc_token()}).encode()
            headers["content-type"] = draw(st.sampled_from([b"application/json", b"application/json; charset=utf-8"]))
        else:
            pairs = [(k, str(v)) for k, v in extra.items() if k != "invoice_id"] + [("token", cc_token())]
            body = urlencode(draw(st.permutations(pairs))).encode()
            headers["content-type"] = b"application/x-www-form-urlencoded"
        return body, headers
    body = draw(bodies if account == "sp" else nudge_bodies)
    headers["content-type"] = draw(content_types)
    if account == "sp":
        if draw(st.booleans()):
            msg_id = draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300))
            headers.update({k: v.encode() for k, v in sw_headers(body, msg_id=msg_id).items()})
            if draw(st.booleans()):  # a wrong X-Signature beside a valid Standard Webhooks signature
                headers["x-signature"] = draw(header_bytes)
        else:
            headers["x-signature"] = draw(st.sampled_from([str.lower, str.upper]))(x_signature(body)).encode()
    else:
        headers["authorization"] = (
            draw(st.sampled_from(["Bearer", "bearer", "BEARER"])).encode() + b" " + NUDGE.encode()
        )
    return body, headers


@pytest.mark.parametrize("account", ["shop", "sp", "sms"])
@settings(FUZZ, max_examples=60)
@given(data=st.data())
async def test_a_valid_credential_is_accepted_whatever_surrounds_it(
    client: httpx.AsyncClient, redis: Redis, account: str, data: st.DataObject
) -> None:
    body, headers = data.draw(signed_hostile_requests(account))
    await redis.flushdb()
    response = await client.post(f"/webhooks/{account}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted"}
    assert await queued(redis) == [account]


@settings(FUZZ, max_examples=60)
@given(body=bodies.filter(lambda b: b.strip()))
async def test_a_nudge_whose_body_names_no_invoices_properly_is_400_and_queues_nothing(
    client: httpx.AsyncClient, redis: Redis, body: bytes
) -> None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # the bodies include arrays nested past the stdlib's recursion limit
        document = None
    if isinstance(document, dict) and set(document) == {"invoice_ids"}:
        return  # possibly a well-formed hint: the property is about everything else
    await redis.flushdb()
    response = await client.post("/webhooks/sms", content=body, headers=NUDGE_HEADERS)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "refused"
    assert "invoice_ids" in response.json()["detail"]
    assert await queued(redis) == []


@settings(FUZZ, max_examples=60)
@given(name=st.text(min_size=1, max_size=80), body=st.binary(max_size=64))
async def test_unknown_or_odd_account_names_are_404(
    client: httpx.AsyncClient, redis: Redis, name: str, body: bytes
) -> None:
    if name in ACCOUNTS:
        return
    response = await client.post(f"/webhooks/{quote(name, safe='')}", content=body, headers=NUDGE_HEADERS)
    # 405: a name that makes the path another route; 307: "." or "..", which the client resolves to "/webhooks/"
    assert response.status_code in (307, 404, 405), response.text
    if "/" not in name and name not in (".", ".."):  # the callback route itself answered
        assert (response.status_code, response.json()) == (404, {"error": "unknown_account"})
    await assert_nothing_queued(redis)


# --- CryptoCloud: the JWT ---------------------------------------------------------------------------


def _swapped_payload() -> str:
    header, _, signature = cc_token().split(".")
    forged = b64url(json.dumps({"id": "INV-EVIL0000", "exp": int(time.time()) + 86400}).encode())
    return f"{header}.{forged}.{signature}"


_ALG = "token algorithm is not HS256"
_SIGNATURE = "token signature does not match"
_NO_EXP = "token has no numeric exp claim"

#: Each forged token and the reason it must be refused for.
CRYPTOCLOUD_REFUSED = {
    "alg-none-unsigned": (lambda: forged_jwt({"alg": "none", "typ": "JWT"}, {"exp": int(time.time()) + 300}, None), _ALG),
    "alg-None-unsigned": (lambda: forged_jwt({"alg": "None"}, {"exp": int(time.time()) + 300}, None), _ALG),
    "alg-none-signed": (lambda: forged_jwt({"alg": "none"}, {"exp": int(time.time()) + 300}, CC_SECRET.encode()), _ALG),
    "wrong-key": (lambda: cc_token(secret="the-wrong-secret-0123456789-0123456789"), _SIGNATURE),
    "expired-beyond-leeway": (lambda: cc_token(exp_in=-45), "token expired"),
    "expired-long-ago": (lambda: cc_token(exp_in=-86400), "token expired"),
    "rs256-header-hmac-signed": (lambda: forged_jwt({"alg": "RS256", "typ": "JWT"}, {"exp": int(time.time()) + 300}, CC_SECRET.encode()), _ALG),
    "rs256-header-junk-signature": (lambda: forged_jwt({"alg": "RS256"}, {"exp": int(time.time()) + 300}, None) + b64url(b"\x01" * 256), _ALG),
    "hs512-right-key": (lambda: forged_jwt({"alg": "HS512"}, {"exp": int(time.time()) + 300}, CC_SECRET.encode(), hashlib.sha512), _ALG),
    "no-exp": (lambda: cc_token(exp_in=None), _NO_EXP),
    "exp-as-string": (lambda: forged_jwt({"alg": "HS256"}, {"exp": str(int(time.time()) + 300)}, CC_SECRET.encode()), _NO_EXP),
    "exp-true": (lambda: forged_jwt({"alg": "HS256"}, {"exp": True}, CC_SECRET.encode()), _NO_EXP),
    "not-before-in-the-future": (lambda: cc_token(nbf=int(time.time()) + 3600), "token not yet valid"),
    "payload-swapped-after-signing": (_swapped_payload, _SIGNATURE),
    "signature-stripped": (lambda: cc_token().rsplit(".", 1)[0] + ".", _SIGNATURE),
    "claims-not-an-object": (lambda: forged_jwt({"alg": "HS256"}, [1, 2], CC_SECRET.encode()), "token claims is not an object"),
}  # fmt: skip


@pytest.mark.parametrize(("make_token", "reason"), CRYPTOCLOUD_REFUSED.values(), ids=CRYPTOCLOUD_REFUSED.keys())
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
async def test_cryptocloud_refuses_bad_tokens(
    client: httpx.AsyncClient, redis: Redis, make_token: Any, reason: str, form: bool
) -> None:
    fields = {"status": "success", "invoice_id": "ABCD1234", "token": make_token()}
    response = await (
        client.post("/webhooks/shop", data=fields) if form else client.post("/webhooks/shop", json=fields)
    )
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "refused", "detail": reason}
    await assert_nothing_queued(redis)


async def test_cryptocloud_token_inside_the_leeway_is_accepted(client: httpx.AsyncClient, redis: Redis) -> None:
    """The control for the expiry cases: 10 s past `exp` is within the 30 s leeway."""
    response = await client.post("/webhooks/shop", json={"token": cc_token(exp_in=-10)})
    assert response.status_code == 202
    assert await queued(redis) == ["shop"]


async def test_cryptocloud_valid_token_on_an_account_without_secret_key(
    client: httpx.AsyncClient, redis: Redis
) -> None:
    response = await client.post("/webhooks/nosecret", json={"token": cc_token()})
    assert response.status_code == 401
    assert response.json() == {
        "error": "refused",
        "detail": "this account has no secret_key: postbacks cannot be verified",
    }
    await assert_nothing_queued(redis)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        # The valid token second: a repeated field is refused.
        (b"token=a&token=" + cc_token().encode(), 400, "postback form repeats token or invoice_id"),
        (b'{"token": ["' + cc_token().encode() + b'"]}', 401, "postback without a token"),
        (b'{"token": {"token": "' + cc_token().encode() + b'"}}', 401, "postback without a token"),
        # JSON duplicate key: the last wins.
        (b'{"token": "' + cc_token().encode() + b'", "token": ""}', 401, "postback without a token"),
    ],
    ids=["form-repeated", "json-list", "json-nested", "json-duplicate-key"],
)
async def test_cryptocloud_token_smuggling_is_refused(
    client: httpx.AsyncClient, redis: Redis, body: bytes, status: int, reason: str
) -> None:
    response = await client.post("/webhooks/shop", content=body)
    assert response.status_code == status, response.text
    assert response.json() == {"error": "refused", "detail": reason}
    await assert_nothing_queued(redis)


# --- SimplePay: Standard Webhooks and X-Signature ---------------------------------------------------

SP_BODY = json.dumps({"id": "evt_1", "type": "invoice.success", "data": {"id": "inv-1"}}).encode()


@pytest.mark.parametrize("offset", [-301, 301, -3600, 10**9], ids=["-301s", "+301s", "-1h", "far-future"])
async def test_simplepay_stale_timestamp_is_refused(client: httpx.AsyncClient, redis: Redis, offset: int) -> None:
    response = await client.post("/webhooks/sp", content=SP_BODY, headers=sw_headers(SP_BODY, offset=offset))
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "refused", "detail": "webhook-timestamp outside the tolerance"}
    await assert_nothing_queued(redis)


@pytest.mark.parametrize("offset", [-299, 0, 299], ids=["-299s", "now", "+299s"])
async def test_simplepay_timestamp_inside_the_tolerance_is_accepted_once(
    client: httpx.AsyncClient, redis: Redis, offset: int
) -> None:
    """Up to 300 s either side of now: accepted, and the same `webhook-id` again is a duplicate."""
    headers = sw_headers(SP_BODY, msg_id=f"msg_{offset}", offset=offset)
    response = await client.post("/webhooks/sp", content=SP_BODY, headers=headers)
    assert response.status_code == 202, response.text
    assert await queued(redis) == ["sp"]
    await redis.delete(SYNC_DUE)  # the sync ran
    replay = await client.post("/webhooks/sp", content=SP_BODY, headers=headers)
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate"})
    assert await queued(redis) == []


_NO_MATCH = "no webhook-signature matches"
_MISSING = "missing Standard Webhooks headers"
_NOT_A_TIME = "webhook-timestamp is not a unix time"
_X_MISMATCH = "X-Signature does not match"


def _without(name: str) -> dict[str, str]:
    headers = sw_headers(SP_BODY)
    del headers[name]
    return headers


def _shifted(headers: dict[str, str]) -> dict[str, str]:
    """The same signature, with the timestamp one second off."""
    return {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)}


#: Each forged request and the reason it must be refused for.
SIMPLEPAY_REFUSED = {
    "tampered-body": (lambda: (SP_BODY.replace(b"inv-1", b"inv-2"), sw_headers(SP_BODY)), _NO_MATCH),
    "appended-byte": (lambda: (SP_BODY + b"\n", sw_headers(SP_BODY)), _NO_MATCH),
    "another-secret": (lambda: (SP_BODY, sw_headers(SP_BODY, key=b"another-simplepay-webhook-key-32")), _NO_MATCH),
    "api-key-as-whsec-key": (lambda: (SP_BODY, sw_headers(SP_BODY, key=SP_API_KEY.encode())), _NO_MATCH),
    "other-msg-id": (lambda: (SP_BODY, {**sw_headers(SP_BODY), "webhook-id": "msg_other"}), _NO_MATCH),
    "other-timestamp": (lambda: (SP_BODY, _shifted(sw_headers(SP_BODY))), _NO_MATCH),
    "v2-prefix": (lambda: (SP_BODY, {k: v.replace("v1,", "v2,") for k, v in sw_headers(SP_BODY).items()}), _NO_MATCH),
    "no-webhook-id": (lambda: (SP_BODY, _without("webhook-id")), _MISSING),
    "no-webhook-timestamp": (lambda: (SP_BODY, _without("webhook-timestamp")), _MISSING),
    "no-webhook-signature": (lambda: (SP_BODY, _without("webhook-signature")), _MISSING),
    "no-headers": (lambda: (SP_BODY, {}), "neither Standard Webhooks nor X-Signature headers"),
    "timestamp-with-fraction": (lambda: (SP_BODY, {**sw_headers(SP_BODY), "webhook-timestamp": f"{time.time():.3f}"}), _NOT_A_TIME),
    "timestamp-superscript-digit": (lambda: (SP_BODY, {**sw_headers(SP_BODY), "webhook-timestamp": "1²"}), _NOT_A_TIME),
    "x-signature-wrong": (lambda: (SP_BODY, {"x-signature": x_signature(SP_BODY, "another-api-key-0123")}), _X_MISMATCH),
    "x-signature-empty": (lambda: (SP_BODY, {"x-signature": ""}), _X_MISMATCH),
    "x-signature-of-other-body": (lambda: (SP_BODY, {"x-signature": x_signature(SP_BODY + b" ")}), _X_MISMATCH),
    "x-signature-base64": (lambda: (SP_BODY, {"x-signature": base64.b64encode(bytes.fromhex(x_signature(SP_BODY))).decode()}), _X_MISMATCH),
    "x-signature-with-webhook-secret": (lambda: (SP_BODY, {"x-signature": hmac.new(SP_KEY, SP_BODY, hashlib.sha256).hexdigest()}), _X_MISMATCH),
}  # fmt: skip


@pytest.mark.parametrize(("make", "reason"), SIMPLEPAY_REFUSED.values(), ids=SIMPLEPAY_REFUSED.keys())
async def test_simplepay_refuses_bad_signatures(
    client: httpx.AsyncClient, redis: Redis, make: Any, reason: str
) -> None:
    body, headers = make()
    headers = {k: v.encode() for k, v in headers.items()}  # "1²" is not ASCII
    response = await client.post("/webhooks/sp", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "refused", "detail": reason}
    await assert_nothing_queued(redis)


async def test_simplepay_replayed_webhook_id_is_a_duplicate(client: httpx.AsyncClient, redis: Redis) -> None:
    headers = sw_headers(SP_BODY, msg_id="msg_replayed")
    first = await client.post("/webhooks/sp", content=SP_BODY, headers=headers)
    assert first.status_code == 202
    assert await queued(redis) == ["sp"]
    await redis.delete(SYNC_DUE)  # the sync ran
    replay = await client.post("/webhooks/sp", content=SP_BODY, headers=headers)
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate"}
    # Re-signed with a new timestamp and another body: the id is what makes it the same notification.
    other = SP_BODY.replace(b"inv-1", b"inv-9")
    again = await client.post(
        "/webhooks/sp", content=other, headers=sw_headers(other, msg_id="msg_replayed", offset=-5)
    )
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    # Still inside the window at either edge it is a duplicate; outside it, the signature is refused before the
    # id is even looked at.
    duplicate = {"status": "duplicate"}
    outside = {"error": "refused", "detail": "webhook-timestamp outside the tolerance"}
    for offset, status, answer in (
        (-299, 200, duplicate),
        (299, 200, duplicate),
        (-301, 401, outside),
        (301, 401, outside),
    ):
        edge = await client.post(
            "/webhooks/sp", content=SP_BODY, headers=sw_headers(SP_BODY, msg_id="msg_replayed", offset=offset)
        )
        assert (edge.status_code, edge.json()) == (status, answer), offset
    assert await queued(redis) == []


async def test_simplepay_x_signature_case_and_rotation(client: httpx.AsyncClient, redis: Redis) -> None:
    upper = await client.post("/webhooks/sp", content=SP_BODY, headers={"x-signature": x_signature(SP_BODY).upper()})
    assert upper.status_code == 202
    assert await queued(redis) == ["sp"]
    await redis.flushdb()
    # A list of signatures, one of them valid (a rotated secret signing beside the old one).
    good = sw_headers(SP_BODY, msg_id="msg_rot")
    bad = sw_headers(SP_BODY, msg_id="msg_rot", key=b"old-key")
    headers = {**good, "webhook-signature": f"{bad['webhook-signature']} {good['webhook-signature']}"}
    response = await client.post("/webhooks/sp", content=SP_BODY, headers=headers)
    assert response.status_code == 202
    assert await queued(redis) == ["sp"]


# --- nudges: SMSOnline and ISP CRM -----------------------------------------------------------------

NUDGES_REFUSED = {
    "wrong-bearer": ("sms", {"authorization": "Bearer nudge-token-0123456788"}, {}),
    "empty-bearer": ("sms", {"authorization": "Bearer "}, {}),
    "bearer-no-space": ("sms", {"authorization": f"Bearer{NUDGE}"}, {}),
    "token-as-basic": ("sms", {"authorization": f"Basic {NUDGE}"}, {}),
    "token-prefix": ("sms", {"authorization": f"Bearer {NUDGE[:-1]}"}, {}),
    "token-plus-suffix": ("sms", {"authorization": f"Bearer {NUDGE}x"}, {}),
    "admin-token": ("sms", {"authorization": f"Bearer {ADMIN}"}, {}),
    "provider-api-key": ("sms", {"authorization": "Bearer sms-key-0123456789"}, {}),
    "wrong-query": ("sms", {}, {"token": "wrong"}),
    "empty-query": ("sms", {}, {"token": ""}),
    "nothing": ("sms", {}, {}),
    "wrong-header-right-query": ("sms", {"authorization": "Bearer wrong"}, {"token": NUDGE}),
    "isp-has-no-callback-token": ("isp", {"authorization": f"Bearer {NUDGE}"}, {"token": NUDGE}),
    "isp-provider-token": ("isp", {"authorization": "Bearer isp-token-0123"}, {"token": "isp-token-0123"}),
    "isp-empty": ("isp", {"authorization": "Bearer "}, {"token": ""}),
}


@pytest.mark.parametrize(("account", "headers", "query"), NUDGES_REFUSED.values(), ids=NUDGES_REFUSED.keys())
async def test_bad_nudges_are_refused(
    client: httpx.AsyncClient, redis: Redis, account: str, headers: dict[str, str], query: dict[str, str]
) -> None:
    response = await client.post(f"/webhooks/{account}", headers=headers, params=query)
    assert response.status_code == 401, response.text
    reason = "bad or missing callback token" if account == "sms" else "this account has no callback_token"
    assert response.json()["error"] == "refused"
    assert response.json()["detail"].startswith(reason), response.text
    await assert_nothing_queued(redis)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"authorization": f"Bearer {NUDGE}"}, {"token": NUDGE}),
        ({"authorization": f"Bearer {NUDGE}"}, {"token": "wrong"}),  # the header is the credential offered
        ({"authorization": f"bearer   {NUDGE}  "}, {}),
        ({}, {"token": NUDGE}),
    ],
    ids=["both-right", "header-right-query-wrong", "spaced-lowercase-scheme", "query-only"],
)
async def test_good_nudges_are_accepted(
    client: httpx.AsyncClient, redis: Redis, headers: dict[str, str], query: dict[str, str]
) -> None:
    response = await client.post("/webhooks/sms", headers=headers, params=query)
    assert response.status_code == 202
    assert await queued(redis) == ["sms"]


# --- body size and body time -----------------------------------------------------------------------


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


TOO_LARGE = {"error": "body_too_large", "detail": f"the limit is {LIMIT} bytes"}


@pytest.mark.parametrize("account", ACCOUNTS)
async def test_bodies_over_256_kib_are_413(client: httpx.AsyncClient, redis: Redis, account: str) -> None:
    declared = await client.post(f"/webhooks/{account}", content=b"{" * (LIMIT + 1), headers=NUDGE_HEADERS)
    assert (declared.status_code, declared.json()) == (413, TOO_LARGE)
    chunked = await client.post(f"/webhooks/{account}", content=_chunks(LIMIT + 1), headers=NUDGE_HEADERS)
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert (chunked.status_code, chunked.json()) == (413, TOO_LARGE)
    # A declared length over the limit is refused before anything is read, whatever follows.
    lying = await client.post(
        f"/webhooks/{account}", content=b"{}", headers={**NUDGE_HEADERS, "content-length": str(10**30)}
    )
    assert (lying.status_code, lying.json()) == (413, TOO_LARGE)
    await assert_nothing_queued(redis)


@pytest.mark.parametrize(
    ("declared", "too_large"),
    [
        # Not plain ASCII digits: no declared length at all, so the 2 bytes actually sent are read and accepted.
        ("-1", False),
        ("+5", False),
        ("١٢", False),
        ("0x10", False),
        (" 7", False),
        ("", False),
        # Digits: compared with the limit, leading zeros ignored, however many digits there are.
        ("0" * 5000 + "2", False),
        (str(LIMIT), False),
        ("000" + str(LIMIT), False),
        (str(LIMIT + 1), True),
        ("000" + str(LIMIT + 1), True),
        ("9" * 19, True),
        ("1" * 5000, True),
    ],
    ids=lambda value: value[:10] if isinstance(value, str) else None,
)
async def test_odd_content_length_values_are_not_500(
    client: httpx.AsyncClient, redis: Redis, declared: str, too_large: bool
) -> None:
    # As bytes: "١٢" is sent as its UTF-8 bytes, which the relay reads as Latin-1.
    headers = {b"authorization": NUDGE_HEADERS["authorization"].encode(), b"content-length": declared.encode()}
    # Two blank bytes: a nudge naming no invoice, accepted whenever the length does not refuse it first.
    response = await client.post("/webhooks/sms", content=b"  ", headers=headers)
    if too_large:
        assert (response.status_code, response.json()) == (413, TOO_LARGE)
        await assert_nothing_queued(redis)
    else:
        assert (response.status_code, response.json()) == (202, {"status": "accepted"})
        assert await queued(redis) == ["sms"]


async def test_a_trickling_body_is_408_while_others_are_answered(
    client: httpx.AsyncClient, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "BODY_TIMEOUT_S", 1.0)
    started = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:  # a slow client: one byte per 50 ms, 5 s in all
        started.set()
        for _ in range(100):
            yield b" "
            await asyncio.sleep(0.05)

    slow = asyncio.create_task(client.post("/webhooks/sms", headers=NUDGE_HEADERS, content=trickle()))
    await asyncio.wait_for(started.wait(), timeout=5)
    began = time.monotonic()
    for _ in range(20):
        other = await client.post("/webhooks/sms", headers=NUDGE_HEADERS)
        assert other.status_code == 202
        signed = await client.post("/webhooks/shop", json={"token": cc_token()})
        assert signed.status_code == 202
    assert not slow.done(), "the other callbacks waited behind the slow one"
    response = await asyncio.wait_for(slow, timeout=10)
    assert response.status_code == 408
    assert response.json()["error"] == "body_timeout"
    assert time.monotonic() - began > 0.8  # at the timeout, not before


# --- a real uvicorn process and a raw socket --------------------------------------------------------

#: The body timeout in the web process below: the relay's 10 s, shortened in that process so the test takes seconds.
PROCESS_BODY_TIMEOUT_S = 4.0
#: uvicorn run with the Procfile's options, in a process that first shortens the body timeout.
SHORT_TIMEOUT_UVICORN = (
    f"from service.web import webhooks; webhooks.BODY_TIMEOUT_S = {PROCESS_BODY_TIMEOUT_S}; "
    "from uvicorn.main import main; main()"
)

PROCESS_ACCOUNTS = f"""
[accounts.shop]
provider = "cryptocloud"
api_key = "cc-api-key-0123456789"
secret_key = "{CC_SECRET}"
base_url = "http://127.0.0.1:9"
poll_interval = 0

[accounts.sms]
provider = "smsonline"
user_id = "u1"
api_key = "sms-key-0123456789"
callback_token = "{NUDGE}"
base_url = "http://127.0.0.1:9"
poll_interval = 0
"""


def _read_head(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before closing or completing its status line and headers (b"" if it just closed)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def _hung_up(sock: socket.socket) -> bool:
    """The server closed the connection: a read returns at once, with nothing or a reset."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_slow_body_on_a_real_server_is_408_without_head_of_line_blocking(redis_url: str) -> None:
    """uvicorn has no body-read timeout of its own: the relay's (BODY_TIMEOUT_S, a module constant) must end a
    request whose body trickles in, while every other client is served meanwhile."""
    relay = Relay(redis_url, PROCESS_ACCOUNTS)
    try:
        argv = web_command(relay.port)
        assert argv[1:3] == ["-m", "uvicorn"], argv
        argv[1:3] = ["-c", SHORT_TIMEOUT_UVICORN]
        relay.web = Proc(argv, env=relay.env, name="web").start()
        relay.web.wait_http(f"{relay.url}/healthz")
        sock = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
        stop = threading.Event()
        with sock:
            sock.sendall(
                b"POST /webhooks/sms HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + NUDGE.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
            )
            sent_at = time.monotonic()

            def drip() -> None:  # one byte per 0.1 s, until the server hangs up or the test ends
                while not stop.wait(0.1):
                    try:
                        sock.send(b" ")
                    except OSError:
                        return

            dripper = threading.Thread(target=drip, daemon=True)
            dripper.start()
            with httpx.Client(base_url=relay.url, timeout=5) as other:
                for i in range(50):
                    if i % 2:
                        answer = other.post("/webhooks/sms", headers=NUDGE_HEADERS)
                    else:
                        answer = other.post("/webhooks/shop", json={"token": cc_token()})
                    assert answer.status_code == 202, answer.text
            # Every other callback was answered while the slow request was still being read.
            assert not select.select([sock], [], [], 0)[0], "the slow request ended before the others were served"
            head = _read_head(sock, PROCESS_BODY_TIMEOUT_S + 10)
            answered = time.monotonic() - sent_at
            stop.set()
            dripper.join(timeout=5)
            # A 408 or a plain hang-up from the server, not the end of _read_head's own wait.
            assert head.startswith(b"HTTP/1.1 408") or (head == b"" and _hung_up(sock)), head
        assert answered > PROCESS_BODY_TIMEOUT_S - 0.5, answered  # at the timeout, not before
    finally:
        relay.stop()
