"""Liveness and readiness."""

from __future__ import annotations

import time

import structlog
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from service import metrics
from service.state.stores import Stores
from service.state.worker_metrics import WORKER_METRICS_TTL_MS
from service.web.deps import WebDeps
from service.web.responses import JSON

log = structlog.get_logger("relay.web")


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def metrics_text(request: Request) -> Response:
    """200 whatever Redis does: without Redis, the process's own metrics and `relay_redis_up 0`."""
    deps: WebDeps = request.app.state.deps
    try:
        figures = await deps.stores.figures(
            int(time.time() * 1000), list(deps.settings.accounts), WORKER_METRICS_TTL_MS
        )
    except (RedisError, OSError) as exc:
        log.warning("metrics_without_redis", error=f"{type(exc).__name__}: {exc}")
        figures = None
    body, content_type = metrics.render(figures)
    return Response(body, media_type=content_type)


async def readyz(request: Request) -> Response:
    stores: Stores = request.app.state.deps.stores
    try:
        found = await stores.memory()
    except (RedisError, OSError):
        return JSON({"status": "unavailable", "redis": "down"}, status_code=503)
    if found.full:
        # Writes are refused until memory frees (maxmemory with noeviction): callbacks get 503 meanwhile.
        return JSON({"status": "unavailable", "redis": "full"}, status_code=503)
    return JSON({"status": "ready"})
