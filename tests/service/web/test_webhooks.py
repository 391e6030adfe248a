"""`POST /webhooks/{account}` in process, against a real Valkey: 202 only once queued, never a 500."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from datetime import UTC, datetime

import httpx
import jwt
import orjson
import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from service.state.keys import SYNC_DUE
from tests.service.conftest import CC_SECRET, NUDGE, SP_API_KEY, SP_WHSEC, app_client, make_settings
from tests.support.procs import free_port


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
    "token",
    [cc_token("the-wrong-secret-0123456789-0123456789"), cc_token(exp_in=-3600), "not.a.jwt", ""],
    ids=["wrong-key", "expired", "garbage", "empty"],
)
async def test_bad_tokens_are_refused_and_queue_nothing(client: httpx.AsyncClient, redis: Redis, token: str) -> None:
    response = await client.post("/webhooks/shop", json={"invoice_id": "ABCD1234", "token": token})
    assert response.status_code == 401
    assert await queued(redis) == []


async def test_account_without_secret_key_accepts_no_postbacks(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/nosecret", json={"token": cc_token()})
    assert response.status_code == 401
    assert await queued(redis) == []


async def test_unknown_account(client: httpx.AsyncClient) -> None:
    assert (await client.post("/webhooks/nobody", json={})).status_code == 404


async def test_body_over_the_limit(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/shop", content=b"x" * (256 * 1024 + 1))
    assert response.status_code == 413
    assert await queued(redis) == []


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/shop", content=b"x" * (256 * 1024))
    assert response.status_code in (400, 401)


async def test_malformed_body_is_400(client: httpx.AsyncClient, redis: Redis) -> None:
    response = await client.post("/webhooks/shop", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code in (400, 401)
    assert await queued(redis) == []


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
    assert await queued(redis) == (["sms"] if status == 202 else [])


async def test_redis_down_answers_503_not_500() -> None:
    client, deps = await app_client(make_settings(f"redis://127.0.0.1:{free_port()}/0"))
    async with client:
        response = await client.post("/webhooks/shop", json={"token": cc_token()})
        assert response.status_code == 503
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


async def test_a_body_that_never_finishes_is_given_up_on(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service import webhooks

    monkeypatch.setattr(webhooks, "BODY_TIMEOUT_S", 0.2)

    async def trickle():  # type: ignore[no-untyped-def]
        yield b'{"token": '
        await asyncio.sleep(5)
        yield b'""}'

    response = await client.post("/webhooks/shop", content=trickle())
    assert response.status_code == 408
