"""Fixtures for the sandbox's own tests: an in-process app on a controllable clock, a real receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.app import create_app
from sandbox.state import Sandbox
from tests.sandbox.receiver import Receiver

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)

# Keys long enough for HS256 without PyJWT's short-key warning (the suite turns warnings into errors).
CC_SECRET = "cc-secret-key-0123456789abcdefghijklmnop"
SP_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

SPECS: dict[str, dict[str, Any]] = {
    "cryptocloud": {"api_key": "cc-key", "secret_key": CC_SECRET},
    "simplepay": {"api_key": "sp-key", "webhook_secret": SP_WEBHOOK_SECRET},
    "smsonline": {"user_id": "u-100", "api_key": "sms-key"},
    "ispcrm": {"username": "alice", "password": "wonderland"},
}


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sb(clock: Clock) -> AsyncIterator[Sandbox]:
    state = Sandbox(clock=clock)
    yield state
    await state.aclose()


@pytest.fixture
async def client(sb: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(sb))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as server:
        yield server


async def make_account(
    client: httpx.AsyncClient, provider: str, name: str | None = None, **spec: Any
) -> dict[str, Any]:
    body = {"name": name or provider, "provider": provider, "count": 0, "seed": 1, **SPECS[provider], **spec}
    body = {k: v for k, v in body.items() if v is not None}  # None: leave the setting out
    response = await client.post("/_sandbox/accounts", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def summaries(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(f"/_sandbox/accounts/{name}/invoices")
    assert response.status_code == 200, response.text
    invoices: list[dict[str, Any]] = response.json()["invoices"]
    return invoices


async def new_invoice(client: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/_sandbox/accounts/{name}/invoices", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def act(client: httpx.AsyncClient, name: str, invoice_id: str, action: str, **body: Any) -> httpx.Response:
    return await client.post(f"/_sandbox/accounts/{name}/invoices/{invoice_id}/{action}", json=body)
