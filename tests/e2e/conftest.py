from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.relay import Sandbox, sandbox_process

NUDGE = "nudge-token-e2e-0123456789"
PROVIDERS = {"cc": "cryptocloud", "sp": "simplepay", "sms": "smsonline", "isp": "ispcrm"}


def credentials(provider: str, name: str) -> dict[str, str]:
    """Credentials unique to one account: the sandbox tells accounts apart by them."""
    if provider == "cryptocloud":
        return {"api_key": f"cc-key-{name}-0123456789", "secret_key": f"cc-secret-{name}-0123456789abcdefghijkl"}
    if provider == "simplepay":
        secret = base64.b64encode(f"sp-webhook-{name}".encode().ljust(32, b"!")).decode()
        return {
            "api_key": f"sp-key-{name}-0123456789",
            "app_id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "webhook_secret": f"whsec_{secret}",
        }
    if provider == "smsonline":
        return {"user_id": f"user-{name}", "api_key": f"sms-key-{name}-0123456789"}
    return {"username": f"isp-user-{name}", "password": f"isp-password-{name}-0123"}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One provider sandbox for every end-to-end module: each test's accounts have names of their own."""
    with sandbox_process() as running:
        yield running


def account_table(
    name: str, provider: str, sandbox_url: str, *, poll_interval: int = 0, initial_sync: str = "emit"
) -> str:
    fields: dict[str, Any] = {"provider": provider, "base_url": sandbox_url, **credentials(provider, name)}
    if provider in ("smsonline", "ispcrm"):
        fields["callback_token"] = NUDGE
    if provider == "ispcrm":
        fields["currency"] = "EUR"
    lines = [f"[accounts.{name}]", *(f'{key} = "{value}"' for key, value in fields.items())]
    lines += [f"poll_interval = {poll_interval}", f'initial_sync = "{initial_sync}"']
    return "\n".join(lines) + "\n"


def accounts_toml(sandbox_url: str, *, prefix: str, poll_interval: int = 0, initial_sync: str = "emit") -> str:
    """Relay accounts `{prefix}cc`, `{prefix}sp`, `{prefix}sms`, `{prefix}isp` on the sandbox."""
    return "\n".join(
        account_table(prefix + short, provider, sandbox_url, poll_interval=poll_interval, initial_sync=initial_sync)
        for short, provider in PROVIDERS.items()
    )


def create_sandbox_account(
    sandbox: Sandbox, name: str, provider: str, *, count: int, seed: int = 7, **extra: Any
) -> None:
    sandbox.create_account(name=name, provider=provider, count=count, seed=seed, **credentials(provider, name), **extra)


def create_sandbox_accounts(sandbox: Sandbox, *, count: int, prefix: str, seed: int = 7) -> None:
    for short, provider in PROVIDERS.items():
        create_sandbox_account(sandbox, prefix + short, provider, count=count, seed=seed)
