"""Provider accounts as values: made once at start by `contracts.account_file`, then passed down."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import tzinfo
from typing import TypeVar

from contracts.times import zone_named

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
    """One account, valid for its provider.

    `contracts.account_file.parse_account` makes accounts from the accounts file: it reads the common keys,
    and every other key as the provider's own declaration says (`Provider.account_keys`, `default_base_url`,
    `account_rule`). So every configuration error is raised at start, and a key the provider requires is
    never None on a parsed account: the provider modules take it with `guaranteed` instead of checking the
    configuration again in the middle of a sync.

    Every account has every field; a field its provider has no key for keeps its default here. `zone` is
    resolved from `timezone` when the account is made, so no sync meets an unknown zone.
    """

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
    #: The zone zone-less provider times are read in.
    zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", zone_named(self.timezone))

    @property
    def logs_in(self) -> bool:
        """ISP CRM with username and password: the relay logs in, and again on 401."""
        return self.username is not None

    def secrets(self) -> list[str]:
        """Every secret value of this account, for redaction."""
        values: list[object] = [getattr(self, each.name) for each in fields(self)]
        return [value.value for value in values if isinstance(value, Secret)]


# --- reading an account, where provider modules build requests and translate records ----------------


def guaranteed(account: Account, key: str, value: _T | None) -> _T:
    """The value of a key the account's provider declares required, which a parsed account always has.

    None means an `Account` built by hand without it: a bug in the caller, not in the configuration, so
    `ValueError` rather than a request with `None` in it.
    """
    if value is None:
        raise ValueError(f"account {account.name!r} was built without {key!r}, which {account.provider} requires")
    return value


def endpoint_url(account: Account, path: str) -> str:
    """`path` on the account's origin. `parse_account` strips a trailing slash; an `Account` built some other
    way may still carry one, and `//path` is another resource to some servers."""
    return account.base_url.rstrip("/") + path
