"""The one place that wires a worker process together: arq's `on_startup` and `on_shutdown`.

A worker runs arq's sync jobs and, beside them, loops of its own: the dispatcher (claims due accounts,
queues their syncs), the upkeep (keeps every polled account on the schedule, notices a Redis that lost its
data), the fan-out (logged events become deliveries), the delivery pool (one lane per subscription), the
trimmer (keeps the log to RELAY_RETENTION) and the metrics publisher (the web's `/metrics` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from typing import Any

import orjson
import prometheus_client
import structlog
from arq.connections import RedisSettings
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import Settings
from service.state.connection import FailureLog, LoggedRetry, RedisTarget
from service.state.stores import Stores
from service.tracing import TRACING, shutdown_tracing
from workers.delivery.bodies import BodyCache
from workers.delivery.fanout import Fanout
from workers.delivery.pool import DeliveryPool
from workers.delivery.subscription_cache import SubscriptionCache
from workers.delivery.webhook_client import WebhookClient
from workers.metrics_publisher import MetricsPublisher
from workers.redis_client import WorkerRedis
from workers.retention.trimmer import Trimmer
from workers.sync.dispatch import Dispatcher
from workers.sync.jobs import SyncDeps
from workers.sync.provider_http import ProviderHttp, traced
from workers.sync.sessions import Sessions
from workers.sync.source_cache import SourceCache
from workers.sync.upkeep import Upkeep

log = structlog.get_logger("relay.worker")

#: Longer than the longest blocking read (the fan-out's XREADGROUP, 1 s): past it a silent Redis (paused,
#: or a connection dropped without a reset) is given up on and the command tried again on a new connection.
SOCKET_TIMEOUT_S = 5.0


def redis_pool(target: RedisTarget) -> WorkerRedis:
    """The worker's Redis client (arq's and the relay's own), reaching `REDIS_URL` as `redis_target` reads
    it (TLS options included). Every command has a time limit and is retried through an outage
    for as long as it lasts, a transaction's lost WATCH included (`WorkerRedis`): the worker waits for Redis to
    return instead of exiting (arq's main loop exits on a connection error otherwise). No periodic health check: it is what made commands hang on a paused Redis
    instead of timing out. Connections are opened lazily, inside the worker's event loop."""
    pool = WorkerRedis(
        **target.client_options(),
        socket_connect_timeout=2.0,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=0,
        retry_on_timeout=True,
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionError, OSError],
        retry=LoggedRetry(ExponentialBackoff(cap=2.0, base=0.05), retries=-1, failures=FailureLog(target.where)),
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


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]  # read, and logging configured, when arq imported `workers.settings`
    stores = Stores.over(ctx["redis"])
    provider_http = ProviderHttp(settings.provider_timeout, settings.provider_max_body)
    send = traced(provider_http) if TRACING.on else provider_http
    webhook_client = WebhookClient(allow_private=settings.allow_private_urls, timeout=settings.delivery_timeout)
    ctx["closing"] = [provider_http.close, webhook_client.close]
    lease_ms = int(settings.sync_lease * 1000)
    ctx["sync"] = SyncDeps(
        accounts=settings.accounts,
        stores=stores,
        send=send,
        sessions=Sessions(send),
        sources=SourceCache(),
        lease_ms=lease_ms,
        concurrency=settings.provider_concurrency,
    )
    upkeep = Upkeep(stores, settings.accounts)
    await upkeep.check_once()
    subscriptions = SubscriptionCache(stores.subscriptions)
    bodies = BodyCache(stores.eventlog)
    pool = DeliveryPool(
        cache=subscriptions,
        subscriptions=stores.subscriptions,
        store=stores.deliveries,
        bodies=bodies,
        client=webhook_client,
        retry_schedule=settings.retry_schedule,
        timeout=settings.delivery_timeout,
        concurrency=settings.delivery_concurrency,
        disable_after_s=settings.disable_after_s,
        eventlog=stores.eventlog,
    )
    consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    fanout = Fanout(
        feed=stores.fanout_feed,
        cache=subscriptions,
        store=stores.deliveries,
        bodies=bodies,
        wake=pool.wake,
        consumer=consumer,
    )
    ctx["delivery_pool"] = pool
    publisher = MetricsPublisher(stores.worker_metrics, consumer)
    ctx["metrics_publisher"] = publisher
    ctx["background"] = [
        asyncio.create_task(publisher.run_forever(), name="metrics"),
        asyncio.create_task(Dispatcher(stores.schedule, ctx["redis"], lease_ms).run_forever(), name="dispatch"),
        asyncio.create_task(pool.run_forever(), name="delivery-pool"),
        asyncio.create_task(fanout.run_forever(), name="fanout"),
        asyncio.create_task(upkeep.run_forever(), name="upkeep"),
        asyncio.create_task(
            Trimmer(stores, settings.retention_s, every_s=settings.retention_interval).run_forever(), name="retention"
        ),
    ]
    if settings.worker_metrics_port is not None:
        prometheus_client.start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    log.info(
        "worker_started", accounts=len(settings.accounts), consumer=consumer, metrics_port=settings.worker_metrics_port
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    for task in ctx.get("background", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    pool: DeliveryPool | None = ctx.get("delivery_pool")
    if pool is not None:
        pool.close()
    for close in ctx.get("closing", []):
        await close()
    publisher: MetricsPublisher | None = ctx.get("metrics_publisher")
    if publisher is not None:
        await publisher.publish_final()
    log.info("worker_stopped")
    shutdown_tracing()
