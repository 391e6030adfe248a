"""The kinds of account key, each read by one rule, and how a provider declares a key it takes.

A reader turns one value of the accounts file (after `${VAR}` expansion) into the valid value an `Account`
field holds, or raises `ValueError` whose message completes "key 'NAME' ...": the accounts-file parser adds
the account and the key. No message repeats a secret's value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from contracts.accounts import Secret
from contracts.standard_webhooks import SECRET_PREFIX, secret_key
from contracts.times import zone_named

_T_co = TypeVar("_T_co", covariant=True)

_CURRENCY = re.compile(r"[A-Za-z0-9]{2,12}")
_WHSEC_PROBLEM = f"must be '{SECRET_PREFIX}' followed by base64"


@dataclass(frozen=True, slots=True)
class AccountKey(Generic[_T_co]):
    """One key a provider takes besides the common ones; its name, in `Provider.account_keys`, is the
    `Account` field it fills.

    An account without a `required` key, or with it empty, is refused. An account without an optional key
    gets `default`, or, when there is none, the `Account` field's own default (None for a credential).
    """

    read: Callable[[object], _T_co]
    required: bool = False
    default: _T_co | None = None


def text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def text_or_integer(value: object) -> str:
    """An id some accounts files write as a number (`user_id = 42`): its decimal text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def secret(value: object) -> Secret:
    return Secret(text(value))


def whsec_secret(value: object) -> Secret:
    """A Standard Webhooks secret: `whsec_` and the base64 of a key that is not empty."""
    whsec = text(value)
    if not whsec.startswith(SECRET_PREFIX):
        raise ValueError(_WHSEC_PROBLEM)
    try:
        key = secret_key(whsec)
    except ValueError as exc:
        raise ValueError(_WHSEC_PROBLEM) from exc
    if not key:  # "whsec_" alone: an empty HMAC key anyone could sign with
        raise ValueError(_WHSEC_PROBLEM)
    return Secret(whsec)


def integer_between(minimum: int, maximum: int | None = None) -> Callable[[object], int]:
    """Whole numbers from `minimum` to `maximum` (no upper bound when None); a TOML float or bool is refused."""

    def read(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"must be an integer, not {type(value).__name__}")
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(f"must be between {minimum} and {'any' if maximum is None else maximum}, not {value}")
        return value

    return read


def one_of(*options: str) -> Callable[[object], str]:
    def read(value: object) -> str:
        for option in options:
            if value == option:
                return option
        raise ValueError(f"must be one of {', '.join(options)}, not {value!r}")

    return read


def iana_zone(value: object) -> str:
    """The name of a zone the zone database knows (`UTC` in any case)."""
    name = text(value)
    try:
        zone_named(name)
    except ValueError as exc:
        raise ValueError(f"is not a known IANA time zone: {name!r}") from exc
    return name


def currency_code(value: object) -> str:
    """Letters and digits, 2 to 12 of them (fiat and crypto codes alike: `USD`, `USDT`), upper-cased."""
    code = text(value)
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"is not a currency code: {code!r}")
    return code.upper()


def http_origin(value: object) -> str:
    """`scheme://host[:port]` of an http(s) URL, without a trailing slash: the provider modules add the paths."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # an unclosed "[" of an IPv6 host
        raise ValueError(f"must be an http(s) origin, not {value!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) origin, not {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be the origin only (scheme, host, port); the relay adds the paths")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"has an invalid port: {value!r}") from exc
    return f"{parts.scheme}://{parts.netloc}"
