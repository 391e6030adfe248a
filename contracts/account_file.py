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
    """Replace `"${NAME}"` in strings, recursively; a variable that is not set, or set but empty, is a
    configuration error (every such variable is named)."""
    problems: list[str] = []
    expanded = _expand(value, environ, where, problems)
    if problems:
        raise ConfigError(*problems)
    return expanded


def _expand(value: Any, environ: Mapping[str, str], where: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            found = environ.get(name)
            if found is None:
                problems.append(f"{where}: environment variable {name} is not set")
            elif found == "":
                problems.append(f"{where}: environment variable {name} is set but empty")
            return found or ""

        return _ENV_REFERENCE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {key: _expand(item, environ, f"{where}.{key}", problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, where, problems) for item in value]
    return value


def parse_accounts(document: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Account]:
    """The parsed accounts TOML (`[accounts.NAME]` tables) -> validated accounts by name; `ConfigError`
    carries the problems of every account."""
    unknown = set(document) - {"accounts"}
    if unknown:
        raise ConfigError(f"accounts file: unknown top-level key(s) {sorted(unknown)}; expected [accounts.NAME]")
    tables = document.get("accounts", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("accounts file: [accounts] must be a table of tables")
    accounts: dict[str, Account] = {}
    problems: list[str] = []
    for name, table in tables.items():
        try:
            if not isinstance(table, Mapping):
                raise ConfigError(f"account {name!r}: must be a table")
            accounts[name] = parse_account(name, expand_env(table, environ, f"account {name!r}"))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(*problems)
    return accounts


def parse_account(name: str, table: Mapping[str, Any]) -> Account:
    """One account's table -> `Account`; `ConfigError` carries each of its problems."""
    where = f"account {name!r}"
    if not ACCOUNT_NAME.fullmatch(name):
        raise ConfigError(f"{where}: the name must match [a-z0-9_-]{{1,64}}")
    provider = _provider(where, table.get("provider"))
    declared = provider.account_keys
    problems: list[str] = []
    unknown = sorted(set(table) - {"provider", *COMMON_KEYS, *declared})
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown} for provider {provider.name}")
    required = [key for key, declaration in declared.items() if declaration.required]
    if provider.default_base_url is None:
        required.append("base_url")
    problems += [
        f"{where}: key {key!r} is required for provider {provider.name}"
        for key in sorted(required)
        if table.get(key) in (None, "")
    ]
    values: dict[str, Any] = {"name": name, "provider": provider.name, "base_url": provider.default_base_url}
    readers = {**COMMON_KEYS, **{key: declaration.read for key, declaration in declared.items()}}
    for key in sorted(set(readers) & set(table)):
        try:
            values[key] = readers[key](table[key])
        except ValueError as exc:
            problems.append(f"{where}: key {key!r} {exc}")
    if problems:
        raise ConfigError(*problems)
    for key, declaration in declared.items():
        if key not in table and declaration.default is not None:
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
