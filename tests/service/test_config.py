"""Configuration: read once from the environment and the accounts file; errors name what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.errors import ConfigError
from service.config import DEFAULTS, load_settings

GOOD = """
[accounts.shop]
provider = "cryptocloud"
api_key = "${CC_KEY}"
secret_key = "literal-secret-0123456789"
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    return str(path)


def test_defaults_and_expansion(tmp_path: Path) -> None:
    settings = load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "from-env-0123"})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.retry_schedule == DEFAULTS.retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert settings.delivery_timeout == 15.0
    assert settings.port == 8000
    assert settings.admin_token is None
    assert settings.allow_private_urls is False
    assert settings.delivery_concurrency == 64
    account = settings.accounts["shop"]
    assert account.api_key is not None
    assert account.api_key.value == "from-env-0123"
    assert "from-env-0123" in settings.secrets()
    assert "from-env-0123" not in repr(settings)


def test_every_variable(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD),
            "CC_KEY": "k",
            "REDIS_URL": "redis://example:6380/2",
            "RELAY_ADMIN_TOKEN": "admin-0123456789",
            "RELAY_ALLOW_PRIVATE_URLS": "true",
            "RELAY_RETRY_SCHEDULE": "1,2,3",
            "RELAY_DELIVERY_TIMEOUT": "2.5",
            "RELAY_DELIVERY_CONCURRENCY": "128",
            "PORT": "9000",
            "RELAY_SYNC_LEASE": "12",
            "RELAY_PROVIDER_TIMEOUT": "4",
            "RELAY_WORKER_METRICS_PORT": "9100",
            "RELAY_WORKER_METRICS_HOST": "127.0.0.1",
            "RELAY_LOG_LEVEL": "debug",
            "RELAY_LOG_FORMAT": "Console",
            "RELAY_RETENTION": "12h",
            "RELAY_PROVIDER_CONCURRENCY": "8",
            "RELAY_PROVIDER_MAX_BODY": "1MiB",
        }
    )
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.admin_token is not None
    assert settings.admin_token.value == "admin-0123456789"
    assert settings.allow_private_urls is True
    assert settings.retry_schedule == (1, 2, 3)
    assert settings.delivery_timeout == 2.5
    assert settings.delivery_concurrency == 128
    assert settings.port == 9000
    assert (settings.sync_lease, settings.provider_timeout) == (12.0, 4.0)
    assert (settings.worker_metrics_port, settings.worker_metrics_host) == (9100, "127.0.0.1")
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")
    assert (settings.retention_s, settings.provider_concurrency, settings.provider_max_body) == (43200, 8, 1 << 20)


def test_worker_metrics_and_logging_defaults(tmp_path: Path) -> None:
    settings = load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "k"})
    assert settings.worker_metrics_port is None
    assert settings.worker_metrics_host == "0.0.0.0"
    assert (settings.log_level, settings.log_format) == ("INFO", None)
    assert settings.retention_s == 30 * 86400


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("15m", 900), ("12h", 43200), ("30d", 2592000), ("3600", 3600)]
)
def test_retention_takes_seconds_or_a_unit(tmp_path: Path, value: str, seconds: int) -> None:
    settings = load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "k", "RELAY_RETENTION": value})
    assert settings.retention_s == seconds


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CC_KEY": "k", "RELAY_RETRY_SCHEDULE": "5,x"}, "RELAY_RETRY_SCHEDULE"),
        ({"CC_KEY": "k", "RELAY_RETRY_SCHEDULE": "5,-1"}, "RELAY_RETRY_SCHEDULE"),
        ({"CC_KEY": "k", "RELAY_DELIVERY_TIMEOUT": "0"}, "RELAY_DELIVERY_TIMEOUT"),
        ({"CC_KEY": "k", "RELAY_ALLOW_PRIVATE_URLS": "maybe"}, "RELAY_ALLOW_PRIVATE_URLS"),
        ({"CC_KEY": "k", "PORT": "http"}, "PORT"),
        ({"CC_KEY": "k", "RELAY_DELIVERY_CONCURRENCY": "0"}, "RELAY_DELIVERY_CONCURRENCY"),
        ({"CC_KEY": "k", "RELAY_DELIVERY_CONCURRENCY": "2000"}, "RELAY_DELIVERY_CONCURRENCY"),
        ({"CC_KEY": "k", "RELAY_WORKER_METRICS_PORT": "abc"}, "RELAY_WORKER_METRICS_PORT"),
        ({"CC_KEY": "k", "RELAY_WORKER_METRICS_PORT": "70000"}, "RELAY_WORKER_METRICS_PORT"),
        ({"CC_KEY": "k", "REDIS_URL": "redis//localhost"}, "REDIS_URL: expected redis://"),
        (
            {"CC_KEY": "k", "REDIS_URL": "redis://localhost/0?ssl_cert_reqs=none"},
            "REDIS_URL: ssl_cert_reqs need rediss://",
        ),
        ({"CC_KEY": "k", "RELAY_LOG_LEVEL": "verbose"}, "RELAY_LOG_LEVEL"),
        ({"CC_KEY": "k", "RELAY_LOG_FORMAT": "pretty"}, "RELAY_LOG_FORMAT"),
        ({"CC_KEY": "k", "RELAY_SYNC_LEASE": "-1"}, "RELAY_SYNC_LEASE"),
        ({"CC_KEY": "k", "RELAY_PROVIDER_TIMEOUT": "soon"}, "RELAY_PROVIDER_TIMEOUT"),
        ({"CC_KEY": "k", "RELAY_RETENTION": "0"}, "RELAY_RETENTION"),
        ({"CC_KEY": "k", "RELAY_RETENTION": "1w"}, "RELAY_RETENTION"),
        ({"CC_KEY": "k", "RELAY_RETENTION": "1.5d"}, "RELAY_RETENTION"),
        ({"CC_KEY": "k", "RELAY_RETENTION": "-30d"}, "RELAY_RETENTION"),
        ({"CC_KEY": "k", "RELAY_PROVIDER_CONCURRENCY": "0"}, "RELAY_PROVIDER_CONCURRENCY"),
        ({"CC_KEY": "k", "RELAY_PROVIDER_MAX_BODY": "5MB"}, "RELAY_PROVIDER_MAX_BODY"),
        ({}, "CC_KEY"),
    ],
)
def test_invalid_values_name_the_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), **env})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"RELAY_ACCOUNTS_FILE": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, "[accounts.shop\n")})


def test_release_check_exits_non_zero_on_invalid_config(tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "service.check"],
        env={"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "k", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "shop (cryptocloud)" in good.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "service.check"],
        env={"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD.replace("cryptocloud", "paypal")), "CC_KEY": "k"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "account 'shop'" in bad.stderr
    assert "provider" in bad.stderr
