"""Liveness and readiness."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from service import metrics
from service.web.responses import JSON


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def metrics_text(request: Request) -> Response:
    body, content_type = await metrics.render(request.app.state.deps.redis)
    return Response(body, media_type=content_type)


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.deps.redis.ping()
    except (RedisError, OSError):
        return JSON({"status": "unavailable", "redis": "down"}, status_code=503)
    return JSON({"status": "ready"})
