from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.support.relay import Sandbox, sandbox_process

CC = {"api_key": "cc-api-key-e2e-0123456789", "secret_key": "cc-secret-key-e2e-0123456789-abcdefgh"}
SP = {
    "api_key": "sp-api-key-e2e-0123456789",
    "app_id": "6f1f4c1e-8f43-4b8a-9f5b-2b8c2f1f0a11",
    "webhook_secret": "whsec_" + base64.b64encode(b"sp-e2e-webhook-secret-32-bytes!!").decode(),
}
SMS = {"user_id": "user-e2e-1", "api_key": "sms-api-key-e2e-0123456789"}
ISP = {"username": "isp-user", "password": "isp-password-e2e-0123"}
NUDGE = "nudge-token-e2e-0123456789"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_process() as running:
        yield running


def accounts_toml(sandbox_url: str, *, poll_interval: int = 0, initial_sync: str = "emit", prefix: str = "") -> str:
    """Relay accounts for the four sandbox providers (sandbox accounts named `{prefix}cc`, `{prefix}sp`, ...)."""

    def table(name: str, provider: str, fields: dict[str, str]) -> str:
        lines = [f"[accounts.{prefix}{name}]", f'provider = "{provider}"', f'base_url = "{sandbox_url}"']
        lines += [f'{key} = "{value}"' for key, value in fields.items()]
        lines += [f"poll_interval = {poll_interval}", f'initial_sync = "{initial_sync}"']
        return "\n".join(lines)

    return "\n\n".join(
        [
            table("cc", "cryptocloud", CC),
            table("sp", "simplepay", SP),
            table("sms", "smsonline", {**SMS, "callback_token": NUDGE}),
            table("isp", "ispcrm", {**ISP, "currency": "EUR", "callback_token": NUDGE}),
        ]
    )


def create_sandbox_accounts(sandbox: Sandbox, *, count: int, prefix: str = "", seed: int = 7) -> None:
    sandbox.create_account(name=f"{prefix}cc", provider="cryptocloud", count=count, seed=seed, **CC)
    sandbox.create_account(name=f"{prefix}sp", provider="simplepay", count=count, seed=seed, **SP)
    sandbox.create_account(name=f"{prefix}sms", provider="smsonline", count=count, seed=seed, **SMS)
    sandbox.create_account(name=f"{prefix}isp", provider="ispcrm", count=count, seed=seed, **ISP)
