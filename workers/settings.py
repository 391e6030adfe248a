"""The worker process: `arq workers.settings.WorkerSettings` (the Procfile's `worker`)."""

from __future__ import annotations

import dataclasses
import os

import orjson
from arq.connections import RedisSettings
from arq.worker import func
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import redis_url_from
from workers.bootstrap import shutdown, startup
from workers.sync.jobs import sync_account

#: A sync of a very large account may take minutes; past this arq cancels it (and the lease runs out).
SYNC_JOB_TIMEOUT_S = 900


def redis_settings(url: str) -> RedisSettings:
    """arq's Redis settings, retrying forever through an outage: the worker waits for Redis to return
    instead of exiting (arq's main loop exits on a connection error otherwise)."""
    return dataclasses.replace(
        RedisSettings.from_dsn(url),
        conn_retries=60,
        conn_retry_delay=1,
        retry_on_timeout=True,
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionError, OSError],
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=-1),
    )


class WorkerSettings:
    functions = [func(sync_account, name="sync_account", timeout=SYNC_JOB_TIMEOUT_S, keep_result=0, max_tries=3)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(redis_url_from(os.environ))
    # Jobs carry only JSON: pickle would let anyone who can write to Redis run code in the worker.
    job_serializer = orjson.dumps
    job_deserializer = orjson.loads
    # arq's default 0.5 s poll adds ~250 ms median per hop; 10 ms keeps a trigger-to-sync hop short, for
    # about 100 cheap queue reads a second per idle worker.
    poll_delay = 0.01
    max_jobs = 20
    keep_result = 60
    health_check_interval = 10
    job_timeout = SYNC_JOB_TIMEOUT_S
