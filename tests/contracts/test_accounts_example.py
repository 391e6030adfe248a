"""accounts.example.toml, the example a deployment starts from, is a valid accounts file that shows every key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from contracts.account_file import COMMON_KEYS, parse_accounts
from contracts.registry import PROVIDERS

EXAMPLE = Path(__file__).resolve().parents[2] / "accounts.example.toml"
#: A valid value for every secret the example references: any text is a secret, and this is also a
#: well-formed Standard Webhooks secret (SimplePay's `webhook_secret`).
DUMMY_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_TABLE = re.compile(r"^\[accounts\.([a-z0-9_-]+)\]$", re.MULTILINE)
#: A key set in the example, or shown commented out as an alternative (`# token = ...`).
_KEY_LINE = re.compile(r"^(?:#\s*)?([a-z_]+)\s*=", re.MULTILINE)


def example_environment(text: str) -> dict[str, str]:
    return dict.fromkeys(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text), DUMMY_SECRET)


def keys_shown_per_account(text: str) -> dict[str, set[str]]:
    """The keys each `[accounts.NAME]` table of the text sets or shows commented out."""
    tables = _TABLE.split(text)[1:]
    return {name: set(_KEY_LINE.findall(body)) for name, body in zip(tables[::2], tables[1::2], strict=True)}


def test_the_example_parses_with_its_secrets_from_the_environment() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    environment = example_environment(text)
    accounts = parse_accounts(tomllib.loads(text), environment)
    assert sorted(account.provider for account in accounts.values()) == sorted(PROVIDERS)
    for account in accounts.values():
        assert set(account.secrets()) == {DUMMY_SECRET}, f"{account.name}: a secret is written in the file"


def test_the_example_shows_every_key_of_every_provider() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    accounts = parse_accounts(tomllib.loads(text), example_environment(text))
    for name, shown in keys_shown_per_account(text).items():
        provider = PROVIDERS[accounts[name].provider]
        assert shown == {"provider", *COMMON_KEYS, *provider.account_keys}, name
