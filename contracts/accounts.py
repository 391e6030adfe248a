"""Provider accounts: validated once from the parsed accounts file, then passed down as values.

Pure: the caller reads the TOML file and hands in the environment used for `"${NAME}"` expansion.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TypeVar
from urllib.parse import urlsplit

from contracts.errors import ConfigError
from contracts.times import zone_named

PROVIDERS = ("cryptocloud", "simplepay", "smsonline", "ispcrm")
DEFAULT_BASE_URLS: Mapping[str, str] = {
    "cryptocloud": "https://api.cryptocloud.plus",
    "simplepay": "https://api.simplepay.ai",
    "smsonline": "https://api-x.smsonline.cloud",
}
ACCOUNT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
_COMMON_KEYS = frozenset({"provider", "base_url", "poll_interval", "initial_sync"})
#: provider -> (required keys, optional keys), besides the common ones.
_PROVIDER_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "cryptocloud": (frozenset({"api_key"}), frozenset({"secret_key", "lookback_days"})),
    "simplepay": (frozenset({"api_key"}), frozenset({"app_id", "webhook_secret"})),
    "smsonline": (
        frozenset({"user_id", "api_key"}),
        frozenset({"currency", "amount_unit", "timezone", "callback_token"}),
    ),
    "ispcrm": (
        frozenset({"base_url", "currency"}),
        frozenset({"token", "username", "password", "callback_token"}),
    ),
}
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CURRENCY = re.compile(r"[A-Za-z0-9]{2,12}")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential. Its repr and str never show the value, so it cannot leak into a log line."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def encoded(self) -> bytes:
        return self.value.encode()


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    provider: str
    base_url: str
    poll_interval: int = 300
    initial_sync: str = "baseline"
    api_key: Secret | None = None
    secret_key: Secret | None = None
    lookback_days: int = 7
    app_id: str | None = None
    webhook_secret: Secret | None = None
    user_id: str | None = None
    currency: str = "USD"
    amount_unit: str = "cents"
    timezone: str = "UTC"
    callback_token: Secret | None = None
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None

    @property
    def logs_in(self) -> bool:
        """ISP CRM with username and password: the relay logs in, and again on 401."""
        return self.username is not None

    def secrets(self) -> list[str]:
        """Every secret value of this account, for redaction."""
        found = (
            self.api_key,
            self.secret_key,
            self.webhook_secret,
            self.callback_token,
            self.token,
            self.password,
        )
        return [secret.value for secret in found if secret is not None]


# --- reading an account, where provider modules build requests and translate records ----------------


def required_key(account: Account, key: str, value: _T | None) -> _T:
    """An account key the provider cannot work without. `parse_account` already insists on it; an
    `Account` built some other way gets a configuration error here rather than a request with `None` in it."""
    if value is None:
        raise ConfigError(f"account {account.name!r}: key {key!r} is required for provider {account.provider}")
    return value


def endpoint_url(account: Account, path: str) -> str:
    """`path` on the account's origin. `parse_account` strips a trailing slash; an `Account` built some other
    way may still carry one, and `//path` is another resource to some servers."""
    return account.base_url.rstrip("/") + path


def account_zone(account: Account) -> tzinfo:
    """The zone zone-less provider times are read in."""
    try:
        return zone_named(account.timezone)
    except ValueError as exc:
        raise ConfigError(f"account {account.name!r}: key 'timezone' is not a known IANA zone") from exc


def expand_env(value: Any, environ: Mapping[str, str], where: str) -> Any:
    """Replace `"${NAME}"` in strings, recursively; a missing variable is a configuration error."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return environ[name]

        return _ENV_REFERENCE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {key: expand_env(item, environ, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item, environ, where) for item in value]
    return value


def parse_accounts(document: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Account]:
    """The parsed accounts TOML (`[accounts.NAME]` tables) -> validated accounts by name."""
    unknown = set(document) - {"accounts"}
    if unknown:
        raise ConfigError(f"accounts file: unknown top-level key(s) {sorted(unknown)}; expected [accounts.NAME]")
    tables = document.get("accounts", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("accounts file: [accounts] must be a table of tables")
    accounts: dict[str, Account] = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"account {name!r}: must be a table")
        accounts[name] = parse_account(name, expand_env(table, environ, f"account {name!r}"))
    return accounts


def parse_account(name: str, table: Mapping[str, Any]) -> Account:
    where = f"account {name!r}"
    if not ACCOUNT_NAME.fullmatch(name):
        raise ConfigError(f"{where}: the name must match [a-z0-9_-]{{1,64}}")
    provider = table.get("provider")
    if not isinstance(provider, str) or provider not in _PROVIDER_KEYS:
        raise ConfigError(f"{where}: key 'provider' must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    required, optional = _PROVIDER_KEYS[provider]
    allowed = _COMMON_KEYS | required | optional
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for provider {provider}")
    missing = sorted(key for key in required if table.get(key) in (None, ""))
    if missing:
        raise ConfigError(f"{where}: key {missing[0]!r} is required for provider {provider}")
    read = _Reader(where, table)
    values: dict[str, Any] = {
        "name": name,
        "provider": provider,
        "base_url": read.base_url(DEFAULT_BASE_URLS.get(provider)),
        "poll_interval": read.integer("poll_interval", 300, minimum=0),
        "initial_sync": read.choice("initial_sync", "baseline", ("baseline", "emit")),
    }
    for key in sorted((required | optional) - {"base_url"}):
        if key in table:
            values[key] = read.value(key)
    account = Account(**values)
    if provider == "ispcrm" and account.token is None and (account.username is None or account.password is None):
        raise ConfigError(f"{where}: ispcrm needs either 'token' or both 'username' and 'password'")
    return account


_SECRET_KEYS = frozenset({"api_key", "secret_key", "webhook_secret", "callback_token", "token", "password"})


@dataclass(frozen=True, slots=True)
class _Reader:
    where: str
    table: Mapping[str, Any]

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: key {key!r} {problem}")

    def value(self, key: str) -> Any:
        if key in _SECRET_KEYS:
            text = self.text(key)
            if key == "webhook_secret":
                _check_whsec(text, self.fail(key, "must be 'whsec_' followed by base64"))
            return Secret(text)
        if key == "lookback_days":
            return self.integer(key, 7, minimum=0, maximum=366)
        if key == "amount_unit":
            return self.choice(key, "cents", ("cents", "units"))
        if key == "timezone":
            text = self.text(key)
            try:
                zone_named(text)
            except ValueError as exc:
                raise self.fail(key, f"is not a known IANA time zone: {text!r}") from exc
            return text
        if key == "currency":
            text = self.text(key)
            if not _CURRENCY.fullmatch(text):
                raise self.fail(key, f"is not a currency code: {text!r}")
            return text.upper()
        if key == "user_id" and isinstance(self.table[key], int) and not isinstance(self.table[key], bool):
            return str(self.table[key])
        return self.text(key)

    def text(self, key: str) -> str:
        value = self.table[key]
        if not isinstance(value, str) or not value:
            raise self.fail(key, "must be a non-empty string")
        return value

    def integer(self, key: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be an integer, not {type(value).__name__}")
        if value < minimum or (maximum is not None and value > maximum):
            raise self.fail(key, f"must be between {minimum} and {maximum or 'any'}, not {value}")
        return value

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self.table.get(key, default)
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, not {value!r}")
        return str(value)

    def base_url(self, default: str | None) -> str:
        value = self.table.get("base_url", default)
        if value is None:
            raise self.fail("base_url", "is required")
        if not isinstance(value, str):
            raise self.fail("base_url", "must be a string")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail("base_url", f"must be an http(s) origin, not {value!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise self.fail("base_url", "must be the origin only (scheme, host, port); the relay adds the paths")
        try:
            _ = parts.port
        except ValueError as exc:
            raise self.fail("base_url", f"has an invalid port: {value!r}") from exc
        return f"{parts.scheme}://{parts.netloc}"


def _check_whsec(text: str, error: ConfigError) -> None:
    if not text.startswith("whsec_"):
        raise error
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise error from exc
    if not key:  # "whsec_" alone: an empty HMAC key anyone could sign with
        raise error
