"""Configuration: read once from the environment and the accounts file, validated, then passed down."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts.account_file import parse_accounts
from contracts.accounts import Account, Secret
from contracts.errors import ConfigError

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str = "redis://localhost:6379/0"
    accounts: Mapping[str, Account] = field(default_factory=dict)
    admin_token: Secret | None = None
    allow_private_urls: bool = False
    retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    delivery_timeout: float = 15.0
    port: int = 8000
    accounts_file: str = "accounts.toml"
    #: How long a worker owns an account's sync without renewing: a killed worker's account is taken over
    #: after at most this long.
    sync_lease: float = 30.0
    #: Seconds one provider request may take before it counts as a (retryable) timeout.
    provider_timeout: float = 30.0
    #: Delivery attempts in flight per subscription, in each worker process.
    delivery_concurrency: int = 64

    def secrets(self) -> list[str]:
        """Every configured secret value, for log redaction."""
        found = [secret for account in self.accounts.values() for secret in account.secrets()]
        if self.admin_token is not None:
            found.append(self.admin_token.value)
        return found


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate `Settings`; `ConfigError` names the variable, account and key at fault."""
    env = os.environ if environ is None else environ
    accounts_file = env.get("RELAY_ACCOUNTS_FILE", "accounts.toml")
    return Settings(
        redis_url=env.get("REDIS_URL", "redis://localhost:6379/0"),
        accounts=_read_accounts(Path(accounts_file), env),
        admin_token=Secret(env["RELAY_ADMIN_TOKEN"]) if env.get("RELAY_ADMIN_TOKEN") else None,
        allow_private_urls=_boolean(env, "RELAY_ALLOW_PRIVATE_URLS", default=False),
        retry_schedule=_schedule(env.get("RELAY_RETRY_SCHEDULE")),
        delivery_timeout=_positive_float(env, "RELAY_DELIVERY_TIMEOUT", 15.0),
        port=_port(env.get("PORT", "8000")),
        accounts_file=accounts_file,
        sync_lease=_positive_float(env, "RELAY_SYNC_LEASE", 30.0),
        provider_timeout=_positive_float(env, "RELAY_PROVIDER_TIMEOUT", 30.0),
        delivery_concurrency=_bounded_int(env, "RELAY_DELIVERY_CONCURRENCY", 64, 1, 1024),
    )


def _read_accounts(path: Path, env: Mapping[str, str]) -> dict[str, Account]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"RELAY_ACCOUNTS_FILE: {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"RELAY_ACCOUNTS_FILE: cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"RELAY_ACCOUNTS_FILE: {path} is not valid TOML: {exc}") from exc
    return parse_accounts(document, env)


def _boolean(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, not {value!r}")


def _schedule(value: str | None) -> tuple[int, ...]:
    if value is None or not value.strip():
        return DEFAULT_RETRY_SCHEDULE
    try:
        schedule = tuple(int(part) for part in value.split(","))
    except ValueError as exc:
        raise ConfigError(f"RELAY_RETRY_SCHEDULE: expected comma-separated seconds, not {value!r}") from exc
    if any(delay < 0 for delay in schedule):
        raise ConfigError("RELAY_RETRY_SCHEDULE: delays cannot be negative")
    return schedule


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected a number of seconds, not {value!r}") from exc
    if not number > 0:
        raise ConfigError(f"{name}: must be positive, not {value!r}")
    return number


def _bounded_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise ConfigError(f"{name}: expected an integer from {low} to {high}, not {value!r}")
    return int(value)


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"PORT: expected a TCP port, not {value!r}")
    return int(value)
