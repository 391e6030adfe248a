"""The worker process: `arq workers.settings.WorkerSettings` (the Procfile's `worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import uuid
from typing import Any

import orjson
import prometheus_client
import structlog
from arq.connections import RedisSettings
from arq.worker import func
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import load_settings
from service.logging import configure_logging
from workers.bootstrap import WorkerDeps
from workers.delivery.fanout import Fanout
from workers.delivery.lanes import DeliveryPool
from workers.sync.dispatch import Dispatcher
from workers.sync.jobs import sync_account
from workers.sync.lease import now_ms

log = structlog.get_logger("relay.worker")

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


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    configure_logging(settings.secrets())
    deps = WorkerDeps.build(settings, ctx["redis"])
    ctx["deps"] = deps
    now = now_ms()
    for account in settings.accounts.values():
        if account.poll_interval:
            await deps.schedule.schedule_if_absent(account.name, now)
    pool = DeliveryPool(
        cache=deps.subscription_cache,
        subscriptions=deps.subscriptions,
        store=deps.deliveries,
        eventlog=deps.eventlog,
        client=deps.webhook_client,
        schedule=settings.retry_schedule,
        timeout=settings.delivery_timeout,
        concurrency=settings.delivery_concurrency,
    )
    consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    fanout = Fanout(ctx["redis"], deps.subscription_cache, deps.deliveries, pool, consumer)
    ctx["delivery_pool"] = pool
    ctx["background"] = [
        asyncio.create_task(Dispatcher(deps.schedule, ctx["redis"], deps.lease_ms).run_forever(), name="dispatch"),
        asyncio.create_task(pool.run_forever(), name="delivery-pool"),
        asyncio.create_task(fanout.run_forever(), name="fanout"),
    ]
    metrics_port = os.environ.get("RELAY_WORKER_METRICS_PORT")
    if metrics_port:
        # Reachable by the platform's scraper like the web port; RELAY_WORKER_METRICS_HOST narrows it.
        host = os.environ.get("RELAY_WORKER_METRICS_HOST", "0.0.0.0")  # noqa: S104
        prometheus_client.start_http_server(int(metrics_port), addr=host)
    log.info("worker_started", accounts=len(settings.accounts), consumer=consumer, metrics_port=metrics_port)


async def shutdown(ctx: dict[str, Any]) -> None:
    for task in ctx.get("background", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    pool: DeliveryPool | None = ctx.get("delivery_pool")
    if pool is not None:
        await pool.close()
    deps: WorkerDeps | None = ctx.get("deps")
    if deps is not None:
        await deps.close()
    log.info("worker_stopped")


class WorkerSettings:
    functions = [func(sync_account, name="sync_account", timeout=SYNC_JOB_TIMEOUT_S, keep_result=0, max_tries=3)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
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
