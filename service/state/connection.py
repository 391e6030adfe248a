"""Where Redis is and how to reach it: `REDIS_URL` read once, by one function, for every process.

`redis_target` turns the URL into `RedisTarget`; the web (`open_redis`), the worker's arq pool and arq's
own `RedisSettings` (`arq --check`) are all built from it, so a TLS option in the URL reaches each of them.
Every failed attempt to reach Redis is logged with where it is (never the password) and when the next
attempt comes, so that a wrong `REDIS_URL` or an outage shows in the logs at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff, NoBackoff
from redis.exceptions import RedisError

log = structlog.get_logger("relay.redis")

T = TypeVar("T")

CertReqs = Literal["none", "optional", "required"]
CERT_REQS: tuple[CertReqs, ...] = ("none", "optional", "required")
#: The query options `REDIS_URL` may carry; anything else is a mistake reported at start, not ignored.
QUERY_OPTIONS = ("db", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """One Redis server and how to talk to it. `repr` and `where` leave the password out."""

    host: str | None = "localhost"
    port: int = 6379
    #: A Unix socket instead of host and port (`unix:///run/redis.sock`).
    unix_socket_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ssl_cert_reqs: CertReqs = "required"
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = False

    @property
    def where(self) -> str:
        """Where the server is, for log lines and error messages."""
        if self.unix_socket_path is not None:
            return f"unix://{self.unix_socket_path}"
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.db}"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of redis-py's `Redis` (and so of arq's `ArqRedis`) that reach this server."""
        options: dict[str, Any] = {"db": self.db, "username": self.username, "password": self.password}
        if self.unix_socket_path is not None:
            return {**options, "unix_socket_path": self.unix_socket_path}
        options |= {"host": self.host, "port": self.port}
        if self.tls:
            options |= {
                "ssl": True,
                "ssl_cert_reqs": self.ssl_cert_reqs,
                "ssl_ca_certs": self.ssl_ca_certs,
                "ssl_certfile": self.ssl_certfile,
                "ssl_keyfile": self.ssl_keyfile,
                "ssl_check_hostname": self.ssl_check_hostname,
            }
        return options


def redis_target(url: str) -> RedisTarget:
    """`REDIS_URL` -> `RedisTarget`: `redis://[[user]:password@]host[:port][/db]`, `rediss://` for TLS, or
    `unix://[[user]:password@]/path?db=N`; TLS options in the query (`ssl_cert_reqs=none|optional|required`,
    `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_check_hostname`). `ValueError` says what is wrong,
    without quoting the URL (it may hold the password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not url.startswith(f"{parts.scheme}://"):
        raise ValueError("expected redis://host:port/db, rediss://host:port/db (TLS) or unix:///path/to/socket")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(QUERY_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; expected some of {', '.join(QUERY_OPTIONS)}")
    tls = parts.scheme == "rediss"
    tls_options = sorted(name for name in query if name.startswith("ssl_"))
    if tls_options and not tls:
        raise ValueError(f"{', '.join(tls_options)} need rediss:// (TLS), not {parts.scheme}://")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme == "unix":
        if not parts.path or parts.hostname:
            raise ValueError("expected unix:///path/to/socket (three slashes: no host)")
        return RedisTarget(
            host=None,
            unix_socket_path=unquote(parts.path),
            db=_db(query.get("db", "0")),
            username=username,
            password=password,
        )
    if not parts.hostname:
        raise ValueError(f"no host: expected {parts.scheme}://host:port/db")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    path = parts.path.removeprefix("/")
    if path and "db" in query:
        raise ValueError("the database is given twice, in the path and as ?db=")
    return RedisTarget(
        host=parts.hostname,
        port=port,
        db=_db(path or query.get("db", "0")),
        tls=tls,
        ssl_cert_reqs=_cert_reqs(query.get("ssl_cert_reqs", "required")),
        ssl_ca_certs=query.get("ssl_ca_certs") or None,
        ssl_certfile=query.get("ssl_certfile") or None,
        ssl_keyfile=query.get("ssl_keyfile") or None,
        ssl_check_hostname=_flag("ssl_check_hostname", query.get("ssl_check_hostname", "false")),
        username=username,
        password=password,
    )


def _db(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        raise ValueError(f"the database must be a number (0, 1, ...), not {text!r}")
    return int(text)


def _cert_reqs(text: str) -> CertReqs:
    for option in CERT_REQS:
        if text.lower() == option:
            return option
    raise ValueError(f"ssl_cert_reqs must be one of {', '.join(CERT_REQS)}, not {text!r}")


def _flag(name: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {text!r}")


class FailureLog:
    """The log lines of failed attempts to reach one Redis. Several callers of a process wait on Redis
    through an outage, each retrying: the first failure is logged at once, then one line at growing
    intervals (1 s, 2 s, ... up to a minute) with how many attempts failed since; the first success after
    failures is logged too, and starts over."""

    MAX_INTERVAL_S = 60.0

    def __init__(self, where: str) -> None:
        self.where = where
        self._interval = 1.0
        self._logged_at: float | None = None
        self._unlogged = 0

    def failed(self, error: BaseException, *, retry_in: float | None) -> None:
        now = time.monotonic()
        if self._logged_at is not None and now - self._logged_at < self._interval:
            self._unlogged += 1
            return
        log.warning(
            "redis_connection_failed",
            redis=self.where,
            error=f"{type(error).__name__}: {error}",
            retry_in=None if retry_in is None else round(retry_in, 3),
            failed_since_last_line=self._unlogged,
        )
        if self._logged_at is not None:
            self._interval = min(self._interval * 2, self.MAX_INTERVAL_S)
        self._logged_at = now
        self._unlogged = 0

    def succeeded(self) -> None:
        if self._logged_at is None:
            return
        log.info("redis_connection_restored", redis=self.where)
        self._interval = 1.0
        self._logged_at = None
        self._unlogged = 0


class LoggedRetry(Retry):
    """redis-py's `Retry` that tells its `FailureLog` of each failed attempt (with the delay before the next
    one: the backoffs used here have no jitter) and of each success."""

    __slots__ = ("failures",)

    def __init__(self, backoff: AbstractBackoff, retries: int, failures: FailureLog) -> None:
        super().__init__(backoff, retries)
        self.failures = failures

    async def call_with_retry(self, do: Callable[[], Awaitable[T]], fail: Callable[[RedisError], Any]) -> T:
        attempts = 0

        async def failed(error: RedisError) -> None:
            nonlocal attempts
            attempts += 1
            await fail(error)
            exhausted = 0 <= self._retries < attempts
            self.failures.failed(error, retry_in=None if exhausted else self._backoff.compute(attempts))

        result = await super().call_with_retry(do, failed)
        self.failures.succeeded()
        return result

    def __deepcopy__(self, memo: dict[int, Any]) -> LoggedRetry:
        # redis-py copies a client's retry for each connection: the copies would each keep a log of their own.
        return self


def open_redis(url: str) -> Redis:
    """A client that fails fast: short timeouts and one quick retry (2 s at worst), so that while Redis is
    down a caller (a provider's callback) gets its 503 promptly and retries, rather than hanging. The pool reconnects by
    itself when Redis returns. No periodic health check: against a Redis that stops answering (paused, or
    partitioned without a reset) it made commands hang after the first half minute instead of timing out."""
    target = redis_target(url)
    client: Redis = Redis(
        **target.client_options(),
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        retry=LoggedRetry(NoBackoff(), retries=1, failures=FailureLog(target.where)),
        retry_on_timeout=True,
        # Opening a connection is retried (and its failure logged) like a command.
        retry_on_error=[OSError],
        health_check_interval=0,
        max_connections=256,
    )
    return client
