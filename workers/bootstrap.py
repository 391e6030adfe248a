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

import prometheus_client
import structlog

from service.config import load_settings
from service.state.stores import Stores
from workers.delivery.bodies import BodyCache
from workers.delivery.fanout import Fanout
from workers.delivery.pool import DeliveryPool
from workers.delivery.subscription_cache import SubscriptionCache
from workers.delivery.webhook_client import WebhookClient
from workers.metrics_publisher import MetricsPublisher
from workers.retention.trimmer import Trimmer
from workers.sync.dispatch import Dispatcher
from workers.sync.jobs import SyncDeps
from workers.sync.provider_http import ProviderHttp
from workers.sync.sessions import Sessions
from workers.sync.source_cache import SourceCache
from workers.sync.upkeep import Upkeep

log = structlog.get_logger("relay.worker")


async def startup(ctx: dict[str, Any]) -> None:
    # Logging was configured when arq imported `workers.settings`.
    settings = load_settings()
    stores = Stores.over(ctx["redis"])
    provider_http = ProviderHttp(settings.provider_timeout, settings.provider_max_body)
    webhook_client = WebhookClient(allow_private=settings.allow_private_urls, timeout=settings.delivery_timeout)
    ctx["closing"] = [provider_http.close, webhook_client.close]
    lease_ms = int(settings.sync_lease * 1000)
    ctx["sync"] = SyncDeps(
        accounts=settings.accounts,
        stores=stores,
        send=provider_http,
        sessions=Sessions(provider_http),
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
