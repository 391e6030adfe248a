"""Liveness and readiness."""

from __future__ import annotations

import time

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from service import metrics
from service.state.stores import Stores
from service.web.responses import JSON


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def metrics_text(request: Request) -> Response:
    stores: Stores = request.app.state.deps.stores
    depths = await stores.queue_depths(int(time.time() * 1000))
    body, content_type = metrics.render(depths, await stores.marker.last_loss_at_ms(), await stores.memory())
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
