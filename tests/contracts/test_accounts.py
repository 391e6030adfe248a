"""The accounts file: every provider's keys, defaults, `${VAR}` expansion, and every way to get it wrong."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts import account_keys, ispcrm
from contracts.account_file import COMMON_KEYS, expand_env, parse_account, parse_accounts
from contracts.account_keys import AccountKey
from contracts.accounts import Account, Secret, endpoint_url, guaranteed
from contracts.errors import ConfigError
from contracts.provider import Provider
from contracts.registry import PROVIDERS

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes, the Standard Webhooks example
ENV = {
    "CC_API_KEY": "cc-api-key-value",
    "CC_SECRET": "cc-secret-value",
    "SP_KEY": "sp-api-key-value",
    "SP_WHSEC": WHSEC,
    "SMS_KEY": "sms-api-key-value",
    "CRM_PASSWORD": "crm-password-value",
    "NUDGE": "nudge-token-value",
}

FULL_FILE = """
[accounts.shop]
provider = "cryptocloud"
api_key = "${CC_API_KEY}"
secret_key = "${CC_SECRET}"
base_url = "https://api.cryptocloud.plus"
poll_interval = 300
initial_sync = "baseline"
lookback_days = 30

[accounts.simple]
provider = "simplepay"
api_key = "${SP_KEY}"
app_id = "app-1"
webhook_secret = "${SP_WHSEC}"
poll_interval = 0
initial_sync = "emit"

[accounts.sms_1]
provider = "smsonline"
user_id = 42
api_key = "${SMS_KEY}"
currency = "eur"
amount_unit = "units"
timezone = "Europe/Moscow"
callback_token = "${NUDGE}"
base_url = "http://127.0.0.1:8081"

[accounts.isp-a]
provider = "ispcrm"
base_url = "https://crm.example.com/"
currency = "KZT"
username = "relay"
password = "${CRM_PASSWORD}"
callback_token = "${NUDGE}"

[accounts.isp-b]
provider = "ispcrm"
base_url = "https://crm-b.example.com:8443"
currency = "USD"
token = "static-token-value"
"""


def parse(text: str, environ: dict[str, str] | None = None) -> dict[str, Account]:
    return parse_accounts(tomllib.loads(text), ENV if environ is None else environ)


def test_a_full_accounts_file() -> None:
    accounts = parse(FULL_FILE)
    assert list(accounts) == ["shop", "simple", "sms_1", "isp-a", "isp-b"]
    shop, simple, sms, isp_a, isp_b = accounts.values()

    assert shop == Account(
        name="shop",
        provider="cryptocloud",
        base_url="https://api.cryptocloud.plus",
        api_key=Secret("cc-api-key-value"),
        secret_key=Secret("cc-secret-value"),
        lookback_days=30,
    )
    assert simple.api_key == Secret("sp-api-key-value")
    assert simple.app_id == "app-1"
    assert simple.webhook_secret == Secret(WHSEC)
    assert (simple.poll_interval, simple.initial_sync) == (0, "emit")
    assert simple.base_url == "https://api.simplepay.ai"

    assert sms.user_id == "42"
    assert (sms.currency, sms.amount_unit, sms.timezone) == ("EUR", "units", "Europe/Moscow")
    assert sms.callback_token == Secret("nudge-token-value")
    assert sms.base_url == "http://127.0.0.1:8081"

    assert isp_a.base_url == "https://crm.example.com"  # a trailing slash is the origin all the same
    assert (isp_a.username, isp_a.password, isp_a.token) == ("relay", Secret("crm-password-value"), None)
    assert isp_a.logs_in
    assert isp_b.token == Secret("static-token-value")
    assert isp_b.base_url == "https://crm-b.example.com:8443"
    assert not isp_b.logs_in


@pytest.mark.parametrize(
    ("table", "base_url"),
    [
        ({"provider": "cryptocloud", "api_key": "k"}, "https://api.cryptocloud.plus"),
        ({"provider": "simplepay", "api_key": "k"}, "https://api.simplepay.ai"),
        ({"provider": "smsonline", "api_key": "k", "user_id": "7"}, "https://api-x.smsonline.cloud"),
    ],
)
def test_defaults(table: dict[str, Any], base_url: str) -> None:
    account = parse_account("acc", table)
    assert account.base_url == base_url
    assert account.poll_interval == 300
    assert account.initial_sync == "baseline"
    assert account.lookback_days == 7
    assert account.currency == "USD"
    assert account.amount_unit == "cents"
    assert account.timezone == "UTC"
    assert account.callback_token is None
    assert account.secret_key is None
    assert account.webhook_secret is None


def test_empty_file_has_no_accounts() -> None:
    assert parse_accounts({}, {}) == {}
    assert parse("[accounts]\n") == {}


# `${VAR}` expansion.


def test_env_expansion_inside_text_and_only_for_strings() -> None:
    account = parse_account(
        "acc",
        expand_env({"provider": "simplepay", "api_key": "pre-${SP_KEY}-${SP_KEY}", "poll_interval": 60}, ENV, "x"),
    )
    assert account.api_key == Secret("pre-sp-api-key-value-sp-api-key-value")
    assert account.poll_interval == 60


def test_env_expansion_is_not_recursive_and_leaves_other_dollars() -> None:
    environ = {"A": "${B}", "B": "never"}
    assert expand_env("${A}", environ, "x") == "${B}"
    assert expand_env("$A and ${not-a-name} and $", environ, "x") == "$A and ${not-a-name} and $"
    assert expand_env(["${A}", {"k": "${A}"}, 5, None], environ, "x") == ["${B}", {"k": "${B}"}, 5, None]


def test_missing_variable_names_account_and_key() -> None:
    text = '[accounts.shop]\nprovider = "cryptocloud"\napi_key = "${NOT_SET_ANYWHERE}"\n'
    with pytest.raises(ConfigError) as caught:
        parse(text)
    message = str(caught.value)
    assert "'shop'" in message
    assert "api_key" in message
    assert "NOT_SET_ANYWHERE" in message


def test_an_empty_variable_is_named_as_empty_not_as_missing() -> None:
    text = '[accounts.shop]\nprovider = "cryptocloud"\napi_key = "${EMPTY}"\n'
    with pytest.raises(ConfigError) as caught:
        parse(text, {"EMPTY": ""})
    assert caught.value.problems == ("account 'shop'.api_key: environment variable EMPTY is set but empty",)


def test_every_problem_of_every_account_is_reported_at_once() -> None:
    text = (
        '[accounts.shop]\nprovider = "cryptocloud"\napi_key = "${GONE}"\nsecret_key = "${BLANK}"\n'
        '[accounts.fine]\nprovider = "cryptocloud"\napi_key = "k"\n'
        '[accounts.isp]\nprovider = "ispcrm"\ncolour = "red"\npoll_interval = -1\n'
        '[accounts.other]\nprovider = "paypal"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, {"BLANK": ""})
    assert caught.value.problems == (
        "account 'shop'.api_key: environment variable GONE is not set",
        "account 'shop'.secret_key: environment variable BLANK is set but empty",
        "account 'isp': unknown key(s) ['colour'] for provider ispcrm",
        "account 'isp': key 'base_url' is required for provider ispcrm",
        "account 'isp': key 'currency' is required for provider ispcrm",
        "account 'isp': key 'poll_interval' must be between 0 and any, not -1",
        "account 'other': key 'provider' must be one of cryptocloud, simplepay, smsonline, ispcrm, not 'paypal'",
    )


# Every way to get an account wrong, each naming the account and the key.

CC = {"provider": "cryptocloud", "api_key": "k"}
SP = {"provider": "simplepay", "api_key": "k"}
SMS = {"provider": "smsonline", "api_key": "k", "user_id": "7"}
ISP = {"provider": "ispcrm", "base_url": "https://crm.example.com", "currency": "KZT", "token": "t"}


@pytest.mark.parametrize(
    ("table", "match"),
    [
        # provider
        pytest.param({"api_key": "k"}, "'provider' must be one of", id="no-provider"),
        pytest.param(
            {**CC, "provider": "stripe"},
            "'provider' must be one of cryptocloud, simplepay, smsonline, ispcrm",
            id="bad-provider",
        ),
        pytest.param({**CC, "provider": "CryptoCloud"}, "'provider' must be one of", id="provider-case"),
        pytest.param({**CC, "provider": 1}, "'provider' must be one of", id="provider-type"),
        # unknown keys, including another provider's
        pytest.param({**CC, "apikey": "k"}, r"unknown key\(s\) \['apikey'\]", id="typo"),
        pytest.param(
            {**CC, "webhook_secret": WHSEC}, r"unknown key\(s\) \['webhook_secret'\]", id="simplepay-key-on-cryptocloud"
        ),
        pytest.param(
            {**SP, "lookback_days": 3}, r"unknown key\(s\) \['lookback_days'\]", id="cryptocloud-key-on-simplepay"
        ),
        pytest.param({**SMS, "token": "t"}, r"unknown key\(s\) \['token'\]", id="ispcrm-key-on-smsonline"),
        pytest.param({**ISP, "timezone": "UTC"}, r"unknown key\(s\) \['timezone'\]", id="smsonline-key-on-ispcrm"),
        # required keys
        pytest.param({"provider": "cryptocloud"}, "'api_key' is required for provider cryptocloud", id="cc-api_key"),
        pytest.param({"provider": "simplepay"}, "'api_key' is required for provider simplepay", id="sp-api_key"),
        pytest.param({"provider": "smsonline", "api_key": "k"}, "'user_id' is required", id="sms-user_id"),
        pytest.param({"provider": "smsonline", "user_id": "7"}, "'api_key' is required", id="sms-api_key"),
        pytest.param({**CC, "api_key": ""}, "'api_key' is required", id="empty-api_key"),
        pytest.param({**ISP, "base_url": None}, "'base_url' is required", id="isp-base_url"),
        pytest.param({k: v for k, v in ISP.items() if k != "base_url"}, "'base_url' is required", id="isp-no-base_url"),
        pytest.param({k: v for k, v in ISP.items() if k != "currency"}, "'currency' is required", id="isp-currency"),
        # ISP CRM credentials
        pytest.param(
            {k: v for k, v in ISP.items() if k != "token"},
            "either 'token' or both 'username' and 'password'",
            id="isp-no-credentials",
        ),
        pytest.param(
            {**{k: v for k, v in ISP.items() if k != "token"}, "username": "u"},
            "either 'token'",
            id="isp-username-only",
        ),
        pytest.param(
            {**{k: v for k, v in ISP.items() if k != "token"}, "password": "p"},
            "either 'token'",
            id="isp-password-only",
        ),
        # base_url: the origin only, http(s)
        pytest.param(
            {**CC, "base_url": "https://api.cryptocloud.plus/v2"},
            "'base_url' must be the origin only",
            id="base_url-path",
        ),
        pytest.param(
            {**CC, "base_url": "https://api.cryptocloud.plus/?a=1"},
            "'base_url' must be the origin only",
            id="base_url-query",
        ),
        pytest.param(
            {**CC, "base_url": "https://api.cryptocloud.plus#x"},
            "'base_url' must be the origin only",
            id="base_url-fragment",
        ),
        pytest.param({**CC, "base_url": "ftp://api.cryptocloud.plus"}, "'base_url' must be an http", id="base_url-ftp"),
        pytest.param({**CC, "base_url": "api.cryptocloud.plus"}, "'base_url' must be an http", id="base_url-no-scheme"),
        pytest.param({**CC, "base_url": "https://"}, "'base_url' must be an http", id="base_url-no-host"),
        pytest.param({**CC, "base_url": "https://h:99999"}, "'base_url' has an invalid port", id="base_url-port"),
        pytest.param({**CC, "base_url": 5}, "'base_url' must be a string", id="base_url-type"),
        # numbers and choices
        pytest.param({**CC, "poll_interval": -1}, "'poll_interval' must be between 0", id="poll_interval-negative"),
        pytest.param({**CC, "poll_interval": "300"}, "'poll_interval' must be an integer", id="poll_interval-text"),
        pytest.param({**CC, "poll_interval": 1.5}, "'poll_interval' must be an integer", id="poll_interval-float"),
        pytest.param({**CC, "poll_interval": True}, "'poll_interval' must be an integer", id="poll_interval-bool"),
        pytest.param({**CC, "initial_sync": "all"}, "'initial_sync' must be one of baseline, emit", id="initial_sync"),
        pytest.param(
            {**CC, "lookback_days": -1}, "'lookback_days' must be between 0 and 366", id="lookback_days-negative"
        ),
        pytest.param(
            {**CC, "lookback_days": 367}, "'lookback_days' must be between 0 and 366", id="lookback_days-large"
        ),
        pytest.param({**SMS, "amount_unit": "dollars"}, "'amount_unit' must be one of cents, units", id="amount_unit"),
        pytest.param({**SMS, "timezone": "Mars/Base"}, "'timezone' is not a known IANA time zone", id="timezone"),
        pytest.param({**SMS, "timezone": ""}, "'timezone' must be a non-empty string", id="timezone-empty"),
        pytest.param({**SMS, "currency": "US$"}, "'currency' is not a currency code", id="currency"),
        pytest.param({**SMS, "currency": "U"}, "'currency' is not a currency code", id="currency-short"),
        # texts and secrets
        pytest.param({**SMS, "user_id": True}, "'user_id' must be a non-empty string", id="user_id-bool"),
        pytest.param({**SMS, "user_id": 4.2}, "'user_id' must be a non-empty string", id="user_id-float"),
        pytest.param({**CC, "api_key": 123}, "'api_key' must be a non-empty string", id="api_key-int"),
        pytest.param({**CC, "secret_key": ""}, "'secret_key' must be a non-empty string", id="secret_key-empty"),
        pytest.param({**SP, "app_id": ["a"]}, "'app_id' must be a non-empty string", id="app_id-list"),
        # whsec
        pytest.param(
            {**SP, "webhook_secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            "'webhook_secret' must be 'whsec_'",
            id="whsec-no-prefix",
        ),
        pytest.param(
            {**SP, "webhook_secret": "whsec_not base64!"}, "'webhook_secret' must be 'whsec_'", id="whsec-not-base64"
        ),
        pytest.param(
            {**SP, "webhook_secret": "whsec_abc"}, "'webhook_secret' must be 'whsec_'", id="whsec-bad-padding"
        ),
        pytest.param({**SP, "webhook_secret": "whsec_"}, "'webhook_secret' must be 'whsec_'", id="whsec-empty-key"),
    ],
)
def test_invalid_accounts(table: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        parse_account("shop", table)
    assert "account 'shop'" in str(caught.value)


@pytest.mark.parametrize("name", ["Shop", "", "a" * 65, "shop.eu", "shop eu", "магазин", "shop/1", "shop\n"])
def test_bad_account_names(name: str) -> None:
    with pytest.raises(ConfigError, match=r"the name must match \[a-z0-9_-\]\{1,64\}"):
        parse_account(name, CC)


@pytest.mark.parametrize("name", ["a", "shop", "shop-eu_2", "a" * 64, "0", "-"])
def test_good_account_names(name: str) -> None:
    assert parse_account(name, CC).name == name


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"account": {}}, "unknown top-level key"),
        ({"accounts": {}, "settings": {}}, "unknown top-level key"),
        ({"accounts": []}, "must be a table of tables"),
        ({"accounts": {"shop": "cryptocloud"}}, "account 'shop': must be a table"),
        ({"accounts": {"Shop": CC}}, "account 'Shop': the name must match"),
    ],
)
def test_invalid_files(document: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_accounts(document, ENV)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("user_id", 42, "42"),
        ("user_id", 0, "0"),
        ("user_id", "abc-1", "abc-1"),
        ("timezone", "utc", "utc"),
        ("timezone", "America/New_York", "America/New_York"),
        ("currency", "usdt", "USDT"),
        ("amount_unit", "units", "units"),
    ],
)
def test_smsonline_values(key: str, value: Any, expected: Any) -> None:
    assert getattr(parse_account("sms", {**SMS, key: value}), key) == expected


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost",
        "http://127.0.0.1:8080",
        "https://[::1]:8443",
        "https://api.example.com/",
        "HTTPS://API.example.com",
    ],
)
def test_valid_base_urls(base_url: str) -> None:
    parsed = parse_account("shop", {**CC, "base_url": base_url}).base_url
    assert not parsed.endswith("/")
    assert parsed.lower() == base_url.lower().rstrip("/")


def test_poll_interval_zero_and_lookback_zero_are_allowed() -> None:
    account = parse_account("shop", {**CC, "poll_interval": 0, "lookback_days": 0})
    assert (account.poll_interval, account.lookback_days) == (0, 0)


# Secrets never show.

SECRET_VALUES = ["cc-api-key-value", "cc-secret-value", "sp-api-key-value", WHSEC, "sms-api-key-value"]
SECRET_VALUES += ["crm-password-value", "nudge-token-value", "static-token-value"]


def test_secrets_never_show_in_repr_str_or_format() -> None:
    accounts = parse(FULL_FILE)
    for account in accounts.values():
        shown = [
            repr(account),
            str(account),
            f"{account}",
            f"{account!r}",
            "%s %r" % (account, account),  # noqa: UP031 - the old formatting too
            "{}".format(account),  # noqa: UP032
            repr(vars_of(account)),
        ]
        for text in shown:
            for value in SECRET_VALUES:
                assert value not in text
    assert "Secret('***')" in repr(accounts["shop"])


def vars_of(account: Account) -> dict[str, Any]:
    """What a structured logger would print: every field's value."""
    return {field.name: getattr(account, field.name) for field in dataclasses.fields(account)}


def test_a_secret_shows_stars_everywhere() -> None:
    secret = Secret("hunter2")
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "%s" % secret,  # noqa: UP031
        f"{[secret]}",
        f"{ {'k': secret} }",
    ):
        assert "hunter2" not in text
        assert "***" in text
    assert secret.encoded() == b"hunter2"
    assert secret.value == "hunter2"


def test_secrets_lists_every_secret_for_redaction() -> None:
    accounts = parse(FULL_FILE)
    assert sorted(accounts["shop"].secrets()) == ["cc-api-key-value", "cc-secret-value"]
    assert sorted(accounts["simple"].secrets()) == sorted(["sp-api-key-value", WHSEC])
    assert sorted(accounts["sms_1"].secrets()) == ["nudge-token-value", "sms-api-key-value"]
    assert sorted(accounts["isp-a"].secrets()) == ["crm-password-value", "nudge-token-value"]
    assert accounts["isp-b"].secrets() == ["static-token-value"]


def test_errors_do_not_show_secret_values() -> None:
    """A wrong value next to a secret: the message names the key, not the secret."""
    with pytest.raises(ConfigError) as caught:
        parse_account("shop", {**SP, "api_key": "very-secret-key", "webhook_secret": "whsec_very-secret!"})
    assert "very-secret" not in str(caught.value)


# Reading an account where provider modules build requests.


def test_guaranteed_passes_a_present_value_through() -> None:
    account = parse_account("sms", SMS)
    assert guaranteed(account, "user_id", account.user_id) == "7"


def test_guaranteed_names_account_key_and_provider_of_an_account_built_by_hand() -> None:
    """Not a `ConfigError`: the configuration was checked at start, so this is a bug in the caller."""
    account = Account(name="shop", provider="cryptocloud", base_url="https://x")
    with pytest.raises(ValueError, match=r"^account 'shop' was built without 'api_key', which cryptocloud requires$"):
        guaranteed(account, "api_key", account.api_key)


@pytest.mark.parametrize("base_url", ["https://crm.example.com", "https://crm.example.com/"])
def test_endpoint_url(base_url: str) -> None:
    account = Account(name="isp", provider="ispcrm", base_url=base_url)
    assert endpoint_url(account, "/api/v1/x") == "https://crm.example.com/api/v1/x"


@pytest.mark.parametrize(("timezone", "offset"), [("UTC", 0), ("utc", 0), ("Europe/Moscow", 3)])
def test_account_zone(timezone: str, offset: int) -> None:
    for account in (
        Account(name="sms", provider="smsonline", base_url="https://x", timezone=timezone),
        parse_account("sms", {**SMS, "timezone": timezone}),
    ):
        assert datetime(2024, 1, 1, tzinfo=account.zone).utcoffset() == timedelta(hours=offset)


def test_an_unknown_account_zone_is_refused_when_the_account_is_made() -> None:
    with pytest.raises(ConfigError, match=r"account 'sms': key 'timezone' is not a known IANA time zone"):
        parse_account("sms", {**SMS, "timezone": "Mars/Olympus"})
    with pytest.raises(ValueError, match="Mars/Olympus"):
        Account(name="sms", provider="smsonline", base_url="https://x", timezone="Mars/Olympus")


# Each provider's own declaration drives the parse; the registry is the only list of providers.


def test_the_registry_is_the_only_list_of_providers() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_account("shop", {"provider": "stripe"})
    assert f"must be one of {', '.join(PROVIDERS)}, not 'stripe'" in str(caught.value)
    account_fields = {field.name for field in dataclasses.fields(Account) if field.init}
    for name, provider in PROVIDERS.items():
        assert provider.name == name
        assert provider.account_keys, name
        assert set(provider.account_keys) <= account_fields - {"name", "provider", *COMMON_KEYS}, name
        # A default origin, or none at all: then every account names its own.
        if provider.default_base_url is not None:
            assert account_keys.http_origin(provider.default_base_url) == provider.default_base_url


def minimal_tables(provider: Provider) -> list[dict[str, Any]]:
    """Accounts of `provider` with its required keys only: one per way to satisfy its `account_rule`."""
    samples: dict[str, Any] = {"user_id": "7", "currency": "EUR"}
    table: dict[str, Any] = {"provider": provider.name}
    table.update({key: samples.get(key, "v") for key, declared in provider.account_keys.items() if declared.required})
    if provider.default_base_url is None:
        table["base_url"] = "https://self-hosted.example"
    if provider.account_rule is None:
        return [table]
    return [{**table, "token": "t"}, {**table, "username": "u", "password": "p"}]


@pytest.mark.parametrize("provider", PROVIDERS.values(), ids=list(PROVIDERS))
def test_what_the_parse_accepts_the_provider_can_sync(provider: Provider) -> None:
    """The parse guarantees what the sync code relies on: no account it accepts fails to build requests."""
    for table in minimal_tables(provider):
        account = parse_account("acc", table)
        assert account.base_url == (provider.default_base_url or "https://self-hosted.example")
        for key, declared in provider.account_keys.items():
            if declared.default is not None:
                assert getattr(account, key) == declared.default, key
        session = "session-token" if account.logs_in else None
        request = provider.make_pager(account, datetime(2026, 1, 1).date(), session).next_request()
        assert request is not None
        assert request.url.startswith(account.base_url + "/")
        if account.logs_in:
            assert provider.login_request is not None
            assert provider.login_request(account).url.startswith(account.base_url + "/")


@pytest.mark.parametrize("provider", PROVIDERS.values(), ids=list(PROVIDERS))
def test_every_required_key_of_every_provider_is_required(provider: Provider) -> None:
    [table, *_] = minimal_tables(provider)
    required = [key for key, declared in provider.account_keys.items() if declared.required]
    if provider.default_base_url is None:
        required.append("base_url")
    for key in required:
        without = {k: v for k, v in table.items() if k != key}
        with pytest.raises(
            ConfigError, match=rf"^account 'acc': key '{key}' is required for provider {provider.name}$"
        ):
            parse_account("acc", without)


FIFTH = Provider(
    name="fifth",
    make_pager=ispcrm.make_pager,
    translate=ispcrm.translate,
    record_id=ispcrm.PROVIDER.record_id,
    verify_callback=ispcrm.PROVIDER.verify_callback,
    account_keys={
        "api_key": AccountKey(account_keys.secret, required=True),
        "app_id": AccountKey(account_keys.text, default="main"),
        "lookback_days": AccountKey(account_keys.integer_between(1, 3), default=2),
    },
    default_base_url="https://api.fifth.example",
    account_rule=lambda account: "app 'forbidden' is not allowed" if account.app_id == "forbidden" else None,
)


@pytest.fixture
def fifth_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider added the way a real one is: its declaration, and a line in the registry."""
    monkeypatch.setitem(PROVIDERS, "fifth", FIFTH)


@pytest.mark.usefixtures("fifth_provider")
def test_a_new_provider_needs_only_its_declaration_and_the_registry() -> None:
    account = parse_account("acc", {"provider": "fifth", "api_key": "k"})
    assert (account.base_url, account.api_key, account.app_id, account.lookback_days) == (
        "https://api.fifth.example",
        Secret("k"),
        "main",
        2,
    )
    assert parse_account("acc", {"provider": "fifth", "api_key": "k", "lookback_days": 3}).lookback_days == 3


@pytest.mark.usefixtures("fifth_provider")
@pytest.mark.parametrize(
    ("table", "match"),
    [
        pytest.param({}, "'api_key' is required for provider fifth", id="missing-required"),
        pytest.param(
            {"api_key": "k", "user_id": "7"}, r"unknown key\(s\) \['user_id'\] for provider fifth", id="unknown"
        ),
        pytest.param({"api_key": "k", "lookback_days": 7}, "'lookback_days' must be between 1 and 3", id="own-range"),
        pytest.param({"api_key": "k", "app_id": "forbidden"}, "app 'forbidden' is not allowed", id="own-rule"),
    ],
)
def test_a_new_provider_is_validated_by_its_declaration(table: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        parse_account("acc", {"provider": "fifth", **table})
    assert "account 'acc'" in str(caught.value)


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"token": "t", "username": "u"}, id="token-and-username"),
        pytest.param({"token": "t", "password": "p"}, id="token-and-password"),
    ],
)
def test_ispcrm_refuses_half_a_login_beside_a_token(credentials: dict[str, str]) -> None:
    """`logs_in` looks at the username: half a login would be tried at sync time instead of refused now."""
    table = {**{k: v for k, v in ISP.items() if k != "token"}, **credentials}
    with pytest.raises(ConfigError, match=r"^account 'isp': ispcrm needs 'username' and 'password' together"):
        parse_account("isp", table)
