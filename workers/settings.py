"""The worker process: `arq workers.settings.WorkerSettings` (the Procfile's `worker`)."""

from __future__ import annotations

import os

import orjson
from arq.connections import ArqRedis, RedisSettings
from arq.worker import func
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import redis_url_from
from service.state.connection import RedisTarget, redis_target
from workers.bootstrap import shutdown, startup
from workers.sync.jobs import sync_account

#: A sync of a very large account may take minutes; past this arq cancels it (and the lease runs out).
SYNC_JOB_TIMEOUT_S = 900


#: Longer than the longest blocking read (the fan-out's XREADGROUP, 1 s): past it a silent Redis (paused,
#: or a connection dropped without a reset) is given up on and the command tried again on a new connection.
SOCKET_TIMEOUT_S = 5.0


def redis_pool(target: RedisTarget) -> ArqRedis:
    """The worker's Redis client (arq's and the relay's own), reaching `REDIS_URL` as `redis_target` reads
    it (TLS options included). Every command has a time limit and is retried through an outage
    for as long as it lasts: the worker waits for Redis to return instead of exiting (arq's main loop exits on
    a connection error otherwise). No periodic health check: it is what made commands hang on a paused Redis
    instead of timing out. Connections are opened lazily, inside the worker's event loop."""
    pool = ArqRedis(
        **target.client_options(),
        socket_connect_timeout=2.0,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=0,
        retry_on_timeout=True,
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionError, OSError],
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=-1),
    )
    # Jobs carry only JSON: pickle would let anyone who can write to Redis run code in the worker.
    pool.job_serializer = orjson.dumps
    pool.job_deserializer = orjson.loads
    return pool


def arq_redis_settings(target: RedisTarget) -> RedisSettings:
    """The same server as arq's own settings: what `arq --check` (the worker's health check) connects with."""
    return RedisSettings(
        host=target.host or RedisSettings.host,
        port=target.port,
        unix_socket_path=target.unix_socket_path,
        database=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        ssl_cert_reqs=target.ssl_cert_reqs,
        ssl_ca_certs=target.ssl_ca_certs,
        ssl_certfile=target.ssl_certfile,
        ssl_keyfile=target.ssl_keyfile,
        ssl_check_hostname=target.ssl_check_hostname,
    )


REDIS = redis_target(redis_url_from(os.environ))


class WorkerSettings:
    functions = [func(sync_account, name="sync_account", timeout=SYNC_JOB_TIMEOUT_S, keep_result=0, max_tries=3)]
    on_startup = startup
    on_shutdown = shutdown
    redis_pool = redis_pool(REDIS)
    redis_settings = arq_redis_settings(REDIS)
    job_serializer = orjson.dumps
    job_deserializer = orjson.loads
    # arq's default 0.5 s poll adds ~250 ms median per hop; 30 ms keeps the hop from a claimed account to its
    # sync short (the dispatcher itself wakes at once on a notice), for 33 queue reads a second: at 10 ms they were
    # most of an idle worker's CPU, ~7% of a core (`make bench`, idle).
    poll_delay = 0.03
    max_jobs = 20
    keep_result = 60
    # arq writes its health-check key with a plain PSETEX, and a write refused by a full Redis (maxmemory,
    # noeviction) raises out of arq's main loop and ends the worker: written once a day, not every 10 s.
    health_check_interval = 86_400
    job_timeout = SYNC_JOB_TIMEOUT_S
