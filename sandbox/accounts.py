"""Account specs (operator API bodies and TOML tables alike) turned into live, generated accounts."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import fields
from decimal import Decimal
from typing import Any

from sandbox.cryptocloud import CryptoCloud
from sandbox.errors import Problem
from sandbox.faults import Faults
from sandbox.generate import generate
from sandbox.ispcrm import IspCrm
from sandbox.provider import Provider
from sandbox.simplepay import SimplePay
from sandbox.smsonline import SmsOnline
from sandbox.state import Account, AccountConfig, Sandbox

PROVIDERS: dict[str, Provider] = {p.name: p for p in (CryptoCloud(), SimplePay(), SmsOnline(), IspCrm())}
NAME = re.compile(r"[a-z0-9_-]{1,64}")
MAX_COUNT = 1_000_000
MAX_LATENCY_MS = 60_000
_NUMBERS = frozenset({"token_ttl"})
_STRINGS = frozenset(f.name for f in fields(AccountConfig)) - _NUMBERS


def _integer(spec: Mapping[str, Any], key: str, default: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Problem(400, f"'{key}' must be an integer")
    return value


def create_account(sb: Sandbox, spec: Mapping[str, Any]) -> Account:
    """Validate `spec`, generate its invoices and register the account; Problem(400/409) otherwise."""
    settings = dict(spec)
    name = settings.pop("name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise Problem(400, "'name' must match [a-z0-9_-]{1,64}")
    if name in sb.accounts:
        raise Problem(409, f"account '{name}' exists")
    provider = PROVIDERS.get(str(settings.pop("provider", "")))
    if provider is None:
        raise Problem(400, f"'provider' must be one of {sorted(PROVIDERS)}")
    count = _integer(settings, "count", 0)
    seed = _integer(settings, "seed", 0)
    latency_ms = _integer(settings, "latency_ms", 0)
    for common in ("count", "seed", "latency_ms"):
        settings.pop(common, None)
    if not 0 <= count <= MAX_COUNT:
        raise Problem(400, f"'count' must be between 0 and {MAX_COUNT}")
    if not 0 <= latency_ms <= MAX_LATENCY_MS:
        raise Problem(400, f"'latency_ms' must be between 0 and {MAX_LATENCY_MS}")
    # Refusing what the provider has no use for catches a misspelt key before a test puzzles over it.
    unknown = sorted(set(settings) - provider.settings)
    if unknown:
        raise Problem(400, f"not settings of a {provider.name} account: {unknown}")

    config = AccountConfig()
    for key, value in settings.items():
        if key in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise Problem(400, f"'{key}' must be a number")
            setattr(config, key, float(value))
            continue
        if key in _STRINGS and not isinstance(value, str):
            raise Problem(400, f"'{key}' must be a string")
        setattr(config, key, value)
    provider.check_config(config)
    if config.callback_url is not None and not config.callback_url.startswith(("http://", "https://")):
        raise Problem(400, "'callback_url' must be an http(s) URL")
    # Credentials pick the account out of a request; two accounts sharing one would be ambiguous.
    mine = provider.identities(config)
    for other in sb.of_provider(provider.name):
        if clash := mine & other.provider.identities(other.config):
            raise Problem(409, f"account '{other.name}' already uses {sorted(clash)[0].split(':')[0]}")

    account = Account(
        name=name,
        provider=provider,
        config=config,
        seed=seed,
        rng=random.Random(f"{seed}/actions"),
        faults=Faults(random.Random(f"{seed}/faults")),
        latency_ms=latency_ms,
    )
    account.book.load(generate(provider, account, count, seed, sb.now()))
    sb.accounts[name] = account
    return account
