"""Configuration: read once from the environment and the accounts file, validated, then passed down."""

from __future__ import annotations

import math
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.account_file import parse_accounts
from contracts.accounts import Account, Secret
from contracts.errors import ConfigError
from service.state.connection import redis_target

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")
#: Shorter operator tokens are refused: 24 random URL-safe characters are 144 bits.
ADMIN_TOKEN_MIN_LENGTH = 24
HOW_TO_GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of every process, with its default written here once."""

    redis_url: str = "redis://localhost:6379/0"
    accounts: Mapping[str, Account] = field(default_factory=dict)
    admin_token: Secret | None = None
    allow_private_urls: bool = False
    retry_schedule: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    delivery_timeout: float = 15.0
    port: int = 8000
    accounts_file: str = "accounts.toml"
    #: How long a worker owns an account's sync without renewing: a killed worker's account is taken over
    #: after at most this long.
    sync_lease: float = 30.0
    #: Seconds one provider request may take before it counts as a (retryable) timeout.
    provider_timeout: float = 30.0
    #: How long events and their delivery records are kept (seconds); an event is kept past it while any delivery
    #: of it is pending.
    retention_s: int = 30 * 86400
    #: A subscription whose deliveries have failed with no success for this long (seconds) is disabled.
    disable_after_s: int = 5 * 86400
    #: Seconds between a worker's tries to trim the log; a trimmer killed mid-round leaves the lock to another
    #: worker after two of them.
    retention_interval: float = 30.0
    #: Requests to one provider in flight at once within one sync (narrow reads; a full read's pages where the
    #: provider allows it). More is faster against a slow provider, and heavier on it.
    provider_concurrency: int = 4
    #: The largest provider answer read, in bytes; a longer one fails the sync instead of filling memory. The
    #: largest documented page (100 CryptoCloud invoices, a SimplePay or SMSOnline list in one answer) is far
    #: below it.
    provider_max_body: int = 64 << 20
    #: Delivery attempts in flight per subscription, in each worker process. Measured here, 128 delivers
    #: ~15% more per second than 64, at twice the concurrent requests a subscriber sees from each worker;
    #: the default stays polite.
    delivery_concurrency: int = 64
    #: A worker serves its own Prometheus metrics on this port; None: it does not.
    worker_metrics_port: int | None = None
    #: Reachable by the platform's scraper like the web port by default; narrow it to keep metrics inside.
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104
    log_level: str = "INFO"
    #: "json" or "console"; None: JSON unless standard error is a terminal.
    log_format: str | None = None

    def secrets(self) -> list[str]:
        """Every configured secret value, for log redaction."""
        found = [secret for account in self.accounts.values() for secret in account.secrets()]
        if self.admin_token is not None:
            found.append(self.admin_token.value)
        redis_password = redis_target(self.redis_url).password
        if redis_password is not None:
            found.append(redis_password)
        return found


DEFAULTS = Settings()


def redis_url_from(env: Mapping[str, str]) -> str:
    """`REDIS_URL`, or the default: also read on its own where the worker's Redis must be known at import."""
    return env.get("REDIS_URL") or DEFAULTS.redis_url


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate `Settings`. `ConfigError` carries every problem found, each naming the variable,
    or the account and the key, at fault."""
    env = os.environ if environ is None else environ
    accounts_file = env.get("RELAY_ACCOUNTS_FILE") or DEFAULTS.accounts_file
    # Each setting's reader; None: unset, the default applies.
    readers: dict[str, Callable[[], object]] = {
        "redis_url": lambda: _redis_url(env),
        "accounts": lambda: _read_accounts(Path(accounts_file), env),
        "admin_token": lambda: _admin_token(env),
        "allow_private_urls": lambda: _boolean(env, "RELAY_ALLOW_PRIVATE_URLS"),
        "retry_schedule": lambda: _schedule(env, "RELAY_RETRY_SCHEDULE"),
        "delivery_timeout": lambda: _positive_float(env, "RELAY_DELIVERY_TIMEOUT"),
        "port": lambda: _port(env, "PORT"),
        "accounts_file": lambda: accounts_file,
        "sync_lease": lambda: _positive_float(env, "RELAY_SYNC_LEASE"),
        "provider_timeout": lambda: _positive_float(env, "RELAY_PROVIDER_TIMEOUT"),
        "provider_max_body": lambda: _byte_size(env, "RELAY_PROVIDER_MAX_BODY"),
        "retention_s": lambda: _duration(env, "RELAY_RETENTION"),
        "disable_after_s": lambda: _duration(env, "RELAY_DISABLE_AFTER"),
        "retention_interval": lambda: _positive_float(env, "RELAY_RETENTION_INTERVAL"),
        "provider_concurrency": lambda: _bounded_int(env, "RELAY_PROVIDER_CONCURRENCY", 1, 64),
        "delivery_concurrency": lambda: _bounded_int(env, "RELAY_DELIVERY_CONCURRENCY", 1, 1024),
        "worker_metrics_port": lambda: _port(env, "RELAY_WORKER_METRICS_PORT"),
        "worker_metrics_host": lambda: env.get("RELAY_WORKER_METRICS_HOST") or None,
        "log_level": lambda: _choice(env, "RELAY_LOG_LEVEL", LOG_LEVELS, upper=True),
        "log_format": lambda: _choice(env, "RELAY_LOG_FORMAT", LOG_FORMATS, upper=False),
    }
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, read in readers.items():
        try:
            value = read()
        except ConfigError as exc:
            problems.extend(exc.problems)
        else:
            if value is not None:
                values[name] = value
    if problems:
        raise ConfigError(*problems)
    return Settings(**values)


def config_warnings(settings: Settings) -> list[str]:
    """What is valid but probably not meant: said by `relay check` and at the start of the web."""
    warnings = []
    if settings.admin_token is None:
        warnings.append("RELAY_ADMIN_TOKEN is not set: every operator API call is refused (401)")
    if not settings.accounts:
        warnings.append("no accounts configured (in RELAY_ACCOUNTS or RELAY_ACCOUNTS_FILE): nothing is synced")
    return warnings


def error_lines(error: ConfigError) -> list[str]:
    """The lines `relay check`, the web and the worker print for an invalid configuration."""
    return [f"configuration error: {problem}" for problem in error.problems]


def load_settings_or_exit() -> Settings:
    """`load_settings` for a process starting: an invalid configuration prints one line per problem to
    standard error and ends the process with status 2, without a traceback."""
    try:
        return load_settings()
    except ConfigError as exc:
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def _redis_url(env: Mapping[str, str]) -> str:
    url = redis_url_from(env)
    try:
        redis_target(url)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL: {exc}") from exc
    return url


def _admin_token(env: Mapping[str, str]) -> Secret | None:
    value = env.get("RELAY_ADMIN_TOKEN")
    if not value:
        return None
    if len(value) < ADMIN_TOKEN_MIN_LENGTH:
        raise ConfigError(
            f"RELAY_ADMIN_TOKEN: at least {ADMIN_TOKEN_MIN_LENGTH} characters, not {len(value)};"
            f" make one with: {HOW_TO_GENERATE}"
        )
    return Secret(value)


def _read_accounts(path: Path, env: Mapping[str, str]) -> dict[str, Account]:
    """The accounts TOML from `RELAY_ACCOUNTS` itself when it is set (a platform that has no files), else
    from the file `RELAY_ACCOUNTS_FILE` names."""
    text = env.get("RELAY_ACCOUNTS")
    if text:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"RELAY_ACCOUNTS: not valid TOML: {exc}") from exc
        try:
            return parse_accounts(document, env)
        except ConfigError as exc:
            raise ConfigError(*(f"RELAY_ACCOUNTS: {problem}" for problem in exc.problems)) from exc
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"RELAY_ACCOUNTS_FILE: {path} does not exist (or set RELAY_ACCOUNTS)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"RELAY_ACCOUNTS_FILE: cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"RELAY_ACCOUNTS_FILE: {path} is not valid TOML: {exc}") from exc
    return parse_accounts(document, env)


def _boolean(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, not {value!r}")


def _schedule(env: Mapping[str, str], name: str) -> tuple[int, ...] | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    try:
        schedule = tuple(int(part) for part in value.split(","))
    except ValueError as exc:
        raise ConfigError(f"{name}: expected comma-separated seconds, not {value!r}") from exc
    if any(delay < 0 for delay in schedule):
        raise ConfigError(f"{name}: delays cannot be negative")
    return schedule


def _positive_float(env: Mapping[str, str], name: str) -> float | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected a number of seconds, not {value!r}") from exc
    if not 0 < number < math.inf:
        raise ConfigError(f"{name}: must be positive, not {value!r}")
    return number


def _bounded_int(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise ConfigError(f"{name}: expected an integer from {low} to {high}, not {value!r}")
    return int(value)


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(env: Mapping[str, str], name: str) -> int | None:
    """Seconds, or a number with s, m, h or d (`90s`, `15m`, `12h`, `30d`); None when unset."""
    value = env.get(name)
    if value is None or value == "":
        return None
    text = value.strip()
    unit = text[-1:] if text[-1:] in _DURATION_UNITS else ""
    digits = text[: len(text) - len(unit)]
    if not (digits.isascii() and digits.isdigit()) or int(digits) == 0 or len(digits) > 12:
        raise ConfigError(f"{name}: expected a positive number of seconds, or with s, m, h or d (30d), not {value!r}")
    return int(digits) * _DURATION_UNITS[unit]


_BYTE_UNITS = {"": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}


def _byte_size(env: Mapping[str, str], name: str) -> int | None:
    """A size in bytes, or with a KiB, MiB or GiB suffix; None when unset."""
    value = env.get(name)
    if value is None or value == "":
        return None
    digits = value.strip().rstrip("KkMmGgIiBb").strip()
    unit = value.strip()[len(digits) :].strip().upper()
    if not (digits.isascii() and digits.isdigit()) or unit not in _BYTE_UNITS or int(digits) == 0:
        raise ConfigError(f"{name}: expected a positive number of bytes (or KiB, MiB, GiB), not {value!r}")
    return int(digits) * _BYTE_UNITS[unit]


def _port(env: Mapping[str, str], name: str) -> int | None:
    """The port in `name`; None when unset."""
    value = env.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise ConfigError(f"{name}: expected a TCP port, not {value!r}")
    return int(value)


def _choice(env: Mapping[str, str], name: str, options: tuple[str, ...], *, upper: bool) -> str | None:
    """One of `options`, compared in upper or lower case; None when unset."""
    value = env.get(name)
    if value is None or value == "":
        return None
    normal = value.strip().upper() if upper else value.strip().lower()
    if normal not in options:
        raise ConfigError(f"{name}: expected one of {', '.join(options)}, not {value!r}")
    return normal
