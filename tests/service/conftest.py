from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from contracts.account_file import parse_accounts
from contracts.accounts import Secret
from service.config import Settings
from service.web.app import create_app
from service.web.deps import WebDeps

ADMIN = "admin-token-for-tests"
CC_SECRET = "cryptocloud-secret-key-0123456789-abcdef"
SP_API_KEY = "simplepay-api-key-0123456789"
SP_WHSEC = "whsec_" + base64.b64encode(b"simplepay-webhook-key-32-bytes!!").decode()
NUDGE = "nudge-token-0123456789"

ACCOUNTS = {
    "accounts": {
        "shop": {"provider": "cryptocloud", "api_key": "cc-api-key-0123456789", "secret_key": CC_SECRET},
        "nosecret": {"provider": "cryptocloud", "api_key": "cc-api-key-0123456789"},
        "sp": {"provider": "simplepay", "api_key": SP_API_KEY, "webhook_secret": SP_WHSEC},
        "sms": {"provider": "smsonline", "user_id": "u1", "api_key": "sms-key-0123456789", "callback_token": NUDGE},
        "isp": {"provider": "ispcrm", "base_url": "https://crm.example", "currency": "EUR", "token": "isp-token-0123"},
    }
}


def make_settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, accounts=parse_accounts(ACCOUNTS, {}), admin_token=Secret(ADMIN))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def app_client(settings: Settings) -> tuple[httpx.AsyncClient, WebDeps]:
    app = create_app(settings)
    deps = WebDeps.build(settings)
    app.state.deps = deps  # what the lifespan does; ASGITransport does not run lifespans
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay.test")
    return client, deps


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    http, deps = await app_client(make_settings(redis_url))
    yield http
    await http.aclose()
    await deps.close()


@pytest.fixture
def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}
