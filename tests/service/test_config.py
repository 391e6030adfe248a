"""Configuration: read once from the environment and the accounts file; errors name what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.errors import ConfigError
from service.config import DEFAULTS, config_warnings, load_settings
from tests.support.procs import ROOT, Proc, free_port
from tests.support.relay import web_command
from tests.support.waiting import wait_until

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
            "RELAY_ADMIN_TOKEN": "admin-token-0123456789-abcdef",
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
            "RELAY_RETENTION_INTERVAL": "0.5",
            "RELAY_PROVIDER_CONCURRENCY": "8",
            "RELAY_PROVIDER_MAX_BODY": "1MiB",
        }
    )
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.admin_token is not None
    assert settings.admin_token.value == "admin-token-0123456789-abcdef"
    assert settings.allow_private_urls is True
    assert settings.retry_schedule == (1, 2, 3)
    assert settings.delivery_timeout == 2.5
    assert settings.delivery_concurrency == 128
    assert settings.port == 9000
    assert (settings.sync_lease, settings.provider_timeout) == (12.0, 4.0)
    assert (settings.worker_metrics_port, settings.worker_metrics_host) == (9100, "127.0.0.1")
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")
    assert (settings.retention_s, settings.provider_concurrency, settings.provider_max_body) == (43200, 8, 1 << 20)
    assert settings.retention_interval == 0.5


def test_worker_metrics_and_logging_defaults(tmp_path: Path) -> None:
    settings = load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "k"})
    assert settings.worker_metrics_port is None
    assert settings.worker_metrics_host == "0.0.0.0"
    assert (settings.log_level, settings.log_format) == ("INFO", None)
    assert (settings.retention_s, settings.retention_interval) == (30 * 86400, 30.0)


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
        ({"CC_KEY": "k", "RELAY_RETENTION_INTERVAL": "0"}, "RELAY_RETENTION_INTERVAL"),
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
    assert bad.returncode == 2
    assert "account 'shop'" in bad.stderr
    assert "provider" in bad.stderr


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    env = {
        "RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD),
        "CC_KEY": "",
        "REDIS_URL": "redis//localhost",
        "RELAY_LOG_LEVEL": "verbose",
        "RELAY_LOG_FORMAT": "pretty",
        "PORT": "0",
        "RELAY_DELIVERY_TIMEOUT": "inf",
        "RELAY_ALLOW_PRIVATE_URLS": "maybe",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert [problem.split(":")[0] for problem in caught.value.problems] == [
        "REDIS_URL",
        "account 'shop'.api_key",
        "RELAY_ALLOW_PRIVATE_URLS",
        "RELAY_DELIVERY_TIMEOUT",
        "PORT",
        "RELAY_LOG_LEVEL",
        "RELAY_LOG_FORMAT",
    ]
    assert "environment variable CC_KEY is set but empty" in caught.value.problems[1]


def test_no_accounts_is_a_warning_not_an_error(tmp_path: Path) -> None:
    settings = load_settings({"RELAY_ACCOUNTS_FILE": write(tmp_path, "")})
    assert settings.accounts == {}
    assert any("no accounts configured" in warning for warning in config_warnings(settings))
    assert not any("no accounts" in w for w in config_warnings(load_settings(good_env(tmp_path))))


def good_env(tmp_path: Path) -> dict[str, str]:
    return {"RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "k"}


BAD_ACCOUNTS = GOOD + 'colour = "red"\n'


def bad_env(tmp_path: Path) -> dict[str, str]:
    """An unknown account key and an invalid log level; no Redis listens at REDIS_URL."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "RELAY_ACCOUNTS_FILE": write(tmp_path, BAD_ACCOUNTS),
        "CC_KEY": "k",
        "RELAY_LOG_LEVEL": "verbose",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }


def run_process(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=20, check=False)


@pytest.mark.parametrize("process", ["web", "worker"])
def test_web_and_worker_refuse_a_bad_configuration_like_relay_check(tmp_path: Path, process: str) -> None:
    """The Procfile's `web` and `worker`: status 2 at once, the lines `relay check` prints, no traceback."""
    env = bad_env(tmp_path)
    check = run_process([sys.executable, "-m", "service.check"], env)
    assert check.returncode == 2
    expected = [
        "configuration error: account 'shop': unknown key(s) ['colour'] for provider cryptocloud",
        "configuration error: RELAY_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'verbose'",
    ]
    assert check.stderr.splitlines() == expected
    argv = (
        web_command(free_port())
        if process == "web"
        else [sys.executable, "-m", "arq", "workers.settings.WorkerSettings"]
    )
    started = time.monotonic()
    result = run_process(argv, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert time.monotonic() - started < 10
    assert [line for line in result.stderr.splitlines() if line.startswith("configuration error: ")] == expected
    assert "Traceback" not in result.stdout + result.stderr


def test_check_warns_of_no_accounts(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "RELAY_ACCOUNTS_FILE": write(tmp_path, "")}
    result = run_process([sys.executable, "-m", "service.check"], env)
    assert result.returncode == 0, result.stderr
    assert "configuration warning: no accounts configured" in result.stderr


def test_accounts_from_relay_accounts_instead_of_the_file(tmp_path: Path) -> None:
    inline = GOOD.replace("[accounts.shop]", "[accounts.inline]")
    settings = load_settings({"RELAY_ACCOUNTS": inline, "RELAY_ACCOUNTS_FILE": write(tmp_path, GOOD), "CC_KEY": "k"})
    assert list(settings.accounts) == ["inline"]
    # Without a file at all.
    assert list(load_settings({"RELAY_ACCOUNTS": inline, "CC_KEY": "k"}).accounts) == ["inline"]
    # Empty: the file is read.
    assert list(load_settings({"RELAY_ACCOUNTS": "", **good_env(tmp_path)}).accounts) == ["shop"]


@pytest.mark.parametrize(
    ("inline", "problem"),
    [
        ("[accounts.shop", "RELAY_ACCOUNTS: not valid TOML"),
        (GOOD, "RELAY_ACCOUNTS: account 'shop'.api_key: environment variable CC_KEY is not set"),
        (BAD_ACCOUNTS.replace("${CC_KEY}", "k"), "RELAY_ACCOUNTS: account 'shop': unknown key(s) ['colour']"),
    ],
)
def test_relay_accounts_errors_name_it(inline: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"RELAY_ACCOUNTS": inline})
    (found,) = caught.value.problems
    assert found.startswith(problem), found


def test_a_short_admin_token_is_refused_with_how_to_make_a_good_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**good_env(tmp_path), "RELAY_ADMIN_TOKEN": "x" * 23})
    assert caught.value.problems == (
        "RELAY_ADMIN_TOKEN: at least 24 characters, not 23;"
        ' make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
    )
    assert "x" * 23 not in str(caught.value)
    settings = load_settings({**good_env(tmp_path), "RELAY_ADMIN_TOKEN": "x" * 24})
    assert settings.admin_token is not None
    assert not any("RELAY_ADMIN_TOKEN" in warning for warning in config_warnings(settings))


def test_an_unset_admin_token_is_a_warning(tmp_path: Path) -> None:
    for unset in ({}, {"RELAY_ADMIN_TOKEN": ""}):
        settings = load_settings({**good_env(tmp_path), **unset})
        assert settings.admin_token is None
        assert "RELAY_ADMIN_TOKEN is not set: every operator API call is refused (401)" in config_warnings(settings)
    env = {"PATH": os.environ.get("PATH", ""), **good_env(tmp_path)}
    check = run_process([sys.executable, "-m", "service.check"], env)
    assert check.returncode == 0
    assert "configuration warning: RELAY_ADMIN_TOKEN is not set" in check.stderr


def test_the_web_warns_at_start_of_an_unset_admin_token(tmp_path: Path) -> None:
    env = {**good_env(tmp_path), "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RELAY_LOG_FORMAT": "json"}
    port = free_port()
    with Proc(web_command(port), env=env, name="web") as web:
        web.wait_http(f"http://127.0.0.1:{port}/healthz")
        wait_until(lambda: '"configuration_warning"' in web.log(), timeout=5, what="the warning")
        assert "RELAY_ADMIN_TOKEN is not set" in web.log()
