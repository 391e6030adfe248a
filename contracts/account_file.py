"""The accounts file: `[accounts.NAME]` tables in, validated accounts out, every error raised at start.

The common keys (provider, base_url, poll_interval, initial_sync) are read here; every other key as the
account's provider declares in its own module, so `contracts.registry` is the only list of providers and of
what their accounts say. Pure: the caller reads the TOML file and hands in the environment used for
`"${NAME}"` expansion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from contracts.account_keys import http_origin, integer_between, one_of
from contracts.accounts import Account
from contracts.errors import ConfigError
from contracts.provider import Provider
from contracts.registry import PROVIDERS

ACCOUNT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
#: The keys besides `provider` every account may have, read alike whatever the provider. Absent, the account
#: gets the provider's `default_base_url` and the `Account` defaults.
COMMON_KEYS: Mapping[str, Callable[[object], object]] = {
    "base_url": http_origin,
    "poll_interval": integer_between(0),
    "initial_sync": one_of("baseline", "emit"),
}
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
    provider = _provider(where, table.get("provider"))
    declared = provider.account_keys
    unknown = sorted(set(table) - {"provider", *COMMON_KEYS, *declared})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for provider {provider.name}")
    required = [key for key, declaration in declared.items() if declaration.required]
    if provider.default_base_url is None:
        required.append("base_url")
    missing = sorted(key for key in required if table.get(key) in (None, ""))
    if missing:
        raise ConfigError(f"{where}: key {missing[0]!r} is required for provider {provider.name}")
    values: dict[str, Any] = {"name": name, "provider": provider.name, "base_url": provider.default_base_url}
    for key, read in COMMON_KEYS.items():
        if key in table:
            values[key] = _read(where, key, read, table[key])
    for key in sorted(declared):
        declaration = declared[key]
        if key in table:
            values[key] = _read(where, key, declaration.read, table[key])
        elif declaration.default is not None:
            values[key] = declaration.default
    account = Account(**values)
    problem = None if provider.account_rule is None else provider.account_rule(account)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    return account


def _provider(where: str, name: object) -> Provider:
    provider = PROVIDERS.get(name) if isinstance(name, str) else None
    if provider is None:
        raise ConfigError(f"{where}: key 'provider' must be one of {', '.join(PROVIDERS)}, not {name!r}")
    return provider


def _read(where: str, key: str, read: Callable[[object], object], value: object) -> object:
    try:
        return read(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: key {key!r} {exc}") from exc
