"""`POST /webhooks/{account}` in process, against a real Valkey: 202 only once queued, never a 500."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import jwt
import orjson
import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook
from starlette.types import Message, Receive

from service.state.keys import SYNC_DUE, seen_callback
from service.web import webhooks
from service.web.webhooks import MAX_BODY_BYTES, BodyTooLarge, ClientGone, read_body
from tests.service.conftest import CC_SECRET, NUDGE, SP_API_KEY, SP_WHSEC, app_client, make_settings
from tests.support.procs import free_port
from tests.support.waiting import await_until


def cc_token(secret: str = CC_SECRET, *, exp_in: int = 300) -> str:
    return jwt.encode({"id": "INV-ABCD1234", "exp": int(time.time()) + exp_in}, secret, algorithm="HS256")


async def queued(redis: Redis) -> list[str]:
    return [m.decode() for m in await redis.zrange(SYNC_DUE, 0, -1)]


async def test_signed_cryptocloud_postback_queues_a_sync(client: httpx.AsyncClient, redis: Redis) -> None:
    body = {"status": "success", "invoice_id": "ABCD1234", "token": cc_token()}
    response = await client.post("/webhooks/shop", json=body)
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    assert await queued(redis) == ["shop"]


async def test_form_encoded_postback(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/shop", data={"invoice_id": "ABCD1234", "token": cc_token()})
    assert response.status_code == 202
    assert await queued(redis) == ["shop"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (cc_token("the-wrong-secret-0123456789-0123456789"), "token signature does not match"),
        (cc_token(exp_in=-3600), "token expired"),
        ("not.a.jwt", "token header is not JSON"),
        ("", "postback without a token"),
    ],
    ids=["wrong-key", "expired", "garbage", "empty"],
)
async def test_bad_tokens_are_refused_and_queue_nothing(
    client: httpx.AsyncClient, redis: Redis, token: str, reason: str
) -> None:
    response = await client.post("/webhooks/shop", json={"invoice_id": "ABCD1234", "token": token})
    assert response.status_code == 401
    assert response.json() == {"error": "refused", "detail": reason}
    assert await queued(redis) == []


async def test_account_without_secret_key_accepts_no_postbacks(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/nosecret", json={"token": cc_token()})
    assert response.status_code == 401
    assert response.json() == {
        "error": "refused",
        "detail": "this account has no secret_key: postbacks cannot be verified",
    }
    assert await queued(redis) == []


async def test_unknown_account(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/nobody", json={})
    assert response.status_code == 404
    assert response.json() == {"error": "unknown_account"}


async def test_body_over_the_limit(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/shop", content=b"x" * (256 * 1024 + 1))
    assert response.status_code == 413
    assert response.json() == {"error": "body_too_large", "detail": "the limit is 262144 bytes"}
    assert await queued(redis) == []


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    # Read whole and handed to the verifier (no content type and no brace: taken as a form, which it is not).
    response = await client.post("/webhooks/shop", content=b"x" * (256 * 1024))
    assert response.status_code == 400
    assert response.json() == {"error": "refused", "detail": "postback body is not a form"}


async def test_malformed_body_is_400(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/shop", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "refused", "detail": "postback body is not JSON"}
    assert await queued(redis) == []


# --- read_body on its own, fed by a scripted ASGI `receive` ------------------------------------------

READ_LIMIT = 16


def scripted(*messages: Message) -> Receive:
    """An ASGI `receive` handing out `messages` in order; asked for more, it fails the test (a body over
    the limit must be refused without reading the rest)."""
    pending = list(messages)

    async def receive() -> Message:
        assert pending, "read_body read past the message that decided its answer"
        return pending.pop(0)

    return receive


def part(data: bytes, *, more: bool = False) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


@pytest.mark.parametrize(
    "messages",
    [
        [part(b"x" * (READ_LIMIT + 1))],
        [part(b"x" * READ_LIMIT, more=True), part(b"y")],
        [part(b"x" * READ_LIMIT, more=True), part(b"y", more=True)],
        [part(b"", more=True), part(b"x" * (READ_LIMIT * 100), more=True)],
    ],
    ids=["one-message-over", "limit-then-one-byte", "over-with-more-to-come", "empty-then-far-over"],
)
async def test_read_body_refuses_one_byte_over_the_limit(messages: list[Message]) -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(scripted(*messages), READ_LIMIT)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([part(b"a" * READ_LIMIT)], b"a" * READ_LIMIT),
        ([part(b"a" * (READ_LIMIT - 1), more=True), part(b"b")], b"a" * (READ_LIMIT - 1) + b"b"),
        (
            [part(b"ab", more=True), part(b"", more=True), part(b"c" * (READ_LIMIT - 2))],
            b"ab" + b"c" * (READ_LIMIT - 2),
        ),
        ([{"type": "http.request"}], b""),
    ],
    ids=["limit-in-one", "limit-in-two", "limit-in-three-with-an-empty-one", "no-body"],
)
async def test_read_body_accepts_up_to_the_limit(messages: list[Message], expected: bytes) -> None:
    assert await read_body(scripted(*messages), READ_LIMIT) == expected


async def test_read_body_default_limit_is_256_kib() -> None:
    assert MAX_BODY_BYTES == 256 * 1024
    assert await read_body(scripted(part(b"x" * MAX_BODY_BYTES))) == b"x" * MAX_BODY_BYTES
    with pytest.raises(BodyTooLarge):
        await read_body(scripted(part(b"x" * (MAX_BODY_BYTES + 1))))


@pytest.mark.parametrize(
    "messages",
    [[{"type": "http.disconnect"}], [part(b"abc", more=True), {"type": "http.disconnect"}]],
    ids=["before-any-body", "mid-body"],
)
async def test_read_body_raises_client_gone_on_disconnect(messages: list[Message]) -> None:
    with pytest.raises(ClientGone):
        await read_body(scripted(*messages), READ_LIMIT)


async def test_simplepay_standard_webhooks(client: httpx.AsyncClient, redis: Redis) -> None:
    body = orjson.dumps({"id": "evt_1", "type": "invoice.success", "data": {"id": "inv-1"}})
    signature = Webhook(SP_WHSEC).sign("msg_1", datetime.now(UTC), body.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": signature}
    response = await client.post("/webhooks/sp", content=body, headers=headers)
    assert response.status_code == 202
    assert await queued(redis) == ["sp"]


async def test_simplepay_x_signature(client: httpx.AsyncClient, redis: Redis) -> None:
    body = orjson.dumps({"type": "invoice.created", "data": {"id": "inv-1"}})
    signature = hmac.new(SP_API_KEY.encode(), body, hashlib.sha256).hexdigest()
    response = await client.post("/webhooks/sp", content=body, headers={"x-signature": signature, "x-version": "2"})
    assert response.status_code == 202
    bad = await client.post("/webhooks/sp", content=body + b" ", headers={"x-signature": signature})
    assert bad.status_code == 401
    assert bad.json() == {"error": "refused", "detail": "X-Signature does not match"}


@pytest.mark.parametrize(("headers", "query", "status"), [
    ({"authorization": f"Bearer {NUDGE}"}, "", 202),
    ({}, f"?token={NUDGE}", 202),
    ({"authorization": "Bearer wrong"}, "", 401),
    ({}, "", 401),
])  # fmt: skip
async def test_nudges(
    client: httpx.AsyncClient, redis: Redis, headers: dict[str, str], query: str, status: int
) -> None:
    response = await client.post(f"/webhooks/sms{query}", headers=headers)
    assert response.status_code == status
    refused = {"error": "refused", "detail": "bad or missing callback token"}
    assert response.json() == ({"status": "accepted"} if status == 202 else refused)
    assert await queued(redis) == (["sms"] if status == 202 else [])


async def test_redis_down_answers_503_not_500() -> None:
    client, deps = await app_client(make_settings(f"redis://127.0.0.1:{free_port()}/0"))
    async with client:
        response = await client.post("/webhooks/shop", json={"token": cc_token()})
        assert response.status_code == 503
        assert response.json() == {"error": "queue_unavailable"}
        ready = await client.get("/readyz")
        assert ready.status_code == 503
    await deps.close()


async def test_a_replayed_standard_webhooks_id_queues_nothing(client: httpx.AsyncClient, redis: Redis) -> None:
    body = orjson.dumps({"id": "evt_1", "type": "invoice.success", "data": {"id": "inv-1"}})
    headers = {
        "webhook-id": "msg_replayed",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": Webhook(SP_WHSEC).sign("msg_replayed", datetime.now(UTC), body.decode()),
    }
    assert (await client.post("/webhooks/sp", content=body, headers=headers)).status_code == 202
    await redis.delete(SYNC_DUE)  # the sync ran
    replay = await client.post("/webhooks/sp", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate"}
    assert await queued(redis) == []


async def test_a_callback_id_is_remembered_for_twice_the_tolerance(client: httpx.AsyncClient, redis: Redis) -> None:
    """A signature verifies from 300 s before its timestamp to 300 s after it: a callback first received
    with a timestamp 300 s ahead can be replayed for 600 s, so its id is remembered that long."""
    body = orjson.dumps({"id": "evt_1", "type": "invoice.success", "data": {"id": "inv-1"}})
    headers = {
        "webhook-id": "msg_kept",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": Webhook(SP_WHSEC).sign("msg_kept", datetime.now(UTC), body.decode()),
    }
    assert (await client.post("/webhooks/sp", content=body, headers=headers)).status_code == 202
    marker = seen_callback("sp", "msg_kept")
    assert 590 <= await redis.ttl(marker) <= 600
    set_for_ms = await redis.pttl(marker)

    async def aged_a_second() -> bool:
        # By Redis's own clock. A marker already gone (-2) ends the wait too: the replay below then fails.
        left = await redis.pttl(marker)
        return bool(left < 0 or left <= set_for_ms - 1000)

    await await_until(aged_a_second, timeout=5, what="the marker to age a second")
    replay = await client.post("/webhooks/sp", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate"}


async def test_a_body_that_never_finishes_is_given_up_on(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "BODY_TIMEOUT_S", 0.2)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"token": '
        await asyncio.sleep(5)
        yield b'""}'

    response = await client.post("/webhooks/shop", content=trickle())
    assert response.status_code == 408
    assert response.json() == {"error": "body_timeout", "detail": "the body did not arrive within 0.2s"}
