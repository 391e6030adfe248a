"""`REDIS_URL` read by one function for every process: where Redis is, and the TLS options that reach it."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from service.state import connection
from service.state.connection import FailureLog, RedisTarget, open_redis, redis_target
from tests.support.procs import free_port
from workers.bootstrap import arq_redis_settings, redis_pool


def test_plain_url_with_credentials_and_database() -> None:
    target = redis_target("redis://user:p%40ss@cache.internal:6380/3")
    assert (target.host, target.port, target.db, target.tls) == ("cache.internal", 6380, 3, False)
    assert (target.username, target.password) == ("user", "p@ss")
    assert "p@ss" not in repr(target)
    assert target.where == "redis://cache.internal:6380/3"


def test_defaults() -> None:
    assert redis_target("redis://localhost") == RedisTarget(host="localhost", port=6379, db=0)


def test_tls_options_are_read_from_the_query() -> None:
    target = redis_target(
        "rediss://:pw@redis.example:6390/1?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem"
        "&ssl_certfile=/c.pem&ssl_keyfile=/k.pem&ssl_check_hostname=true"
    )
    assert target.tls
    assert (target.ssl_cert_reqs, target.ssl_ca_certs) == ("none", "/ca.pem")
    assert (target.ssl_certfile, target.ssl_keyfile, target.ssl_check_hostname) == ("/c.pem", "/k.pem", True)
    assert redis_target("rediss://h").ssl_cert_reqs == "required"
    assert redis_target("rediss://h?ssl_cert_reqs=OPTIONAL").ssl_cert_reqs == "optional"


def test_unix_socket() -> None:
    target = redis_target("unix://:pw@/run/redis/redis.sock?db=2")
    assert (target.unix_socket_path, target.db, target.password) == ("/run/redis/redis.sock", 2, "pw")
    assert target.where == "unix:///run/redis/redis.sock"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis//localhost", "expected redis://"),
        ("localhost:6379", "expected redis://"),
        ("http://localhost:6379", "expected redis://"),
        ("redis://", "no host"),
        ("redis://:pw@:6379/0", "no host"),
        ("redis://localhost:port/0", "port"),
        ("redis://localhost:99999/0", "port"),
        ("redis://localhost/zero", "database"),
        ("redis://localhost/1?db=2", "twice"),
        ("redis://localhost?ssl_cert_reqs=none", "need rediss://"),
        ("rediss://localhost?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
        ("rediss://localhost?ssl_check_hostname=perhaps", "ssl_check_hostname"),
        ("rediss://localhost?sslmode=require", "unknown option"),
        ("unix://host/path", "three slashes"),
    ],
)
def test_malformed_urls_say_what_is_wrong_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        redis_target(url.replace("redis://", "redis://:hunter2-secret@", 1) if url.startswith("redis://l") else url)
    assert "hunter2-secret" not in str(raised.value)


def test_every_client_gets_the_tls_options() -> None:
    """The web's client, the worker's pool and arq's own settings (`arq --check`) reach the same TLS server."""
    target = redis_target("rediss://:pw@10.0.0.5:6390/4?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem")
    for client in (
        open_redis("rediss://:pw@10.0.0.5:6390/4?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem"),
        redis_pool(target),
    ):
        pool = client.connection_pool
        assert pool.connection_class is SSLConnection
        kwargs = pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == ("10.0.0.5", 6390, 4, "pw")
        assert (kwargs["ssl_cert_reqs"], kwargs["ssl_ca_certs"]) == ("none", "/ca.pem")
    arq = arq_redis_settings(target)
    assert (arq.host, arq.port, arq.database, arq.password, arq.ssl) == ("10.0.0.5", 6390, 4, "pw", True)
    assert (arq.ssl_cert_reqs, arq.ssl_ca_certs) == ("none", "/ca.pem")


def test_unix_socket_clients() -> None:
    target = redis_target("unix:///run/redis.sock?db=1")
    assert redis_pool(target).connection_pool.connection_class is UnixDomainSocketConnection
    assert arq_redis_settings(target).unix_socket_path == "/run/redis.sock"


async def test_failed_attempts_are_logged_with_where_and_never_the_password() -> None:
    port = free_port()  # nothing listens there
    client = open_redis(f"redis://:secret-password-123@127.0.0.1:{port}/0")
    with capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(RedisConnectionError):
                await client.ping()
    await client.aclose()
    failed = [line for line in logs if line["event"] == "redis_connection_failed"]
    # The first failure at once; the next ones, within the second, are counted into the next line.
    assert len(failed) == 1, logs
    assert failed[0]["redis"] == f"redis://127.0.0.1:{port}/0"
    assert failed[0]["log_level"] == "warning"
    assert "secret-password-123" not in repr(logs)


def test_log_lines_come_further_apart_through_an_outage_and_start_over_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(connection.time, "monotonic", lambda: now[0])
    failures = FailureLog("redis://cache:6379/0")
    error = ConnectionRefusedError("refused")
    with capture_logs() as logs:
        for _ in range(40):  # one failure every 0.25 s for 10 s
            failures.failed(error, retry_in=0.25)
            now[0] += 0.25
        failures.succeeded()
        failures.succeeded()
        failures.failed(error, retry_in=0.25)
    lines = [(line["event"], line.get("failed_since_last_line")) for line in logs]
    # Logged at 0 s, then after 1 s, 2 s, 4 s: each line counts the failures left out before it.
    assert lines == [
        ("redis_connection_failed", 0),
        ("redis_connection_failed", 3),
        ("redis_connection_failed", 7),
        ("redis_connection_failed", 15),
        ("redis_connection_restored", None),
        ("redis_connection_failed", 0),
    ]
