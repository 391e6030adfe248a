"""Liveness and readiness."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from service.responses import JSON


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.deps.redis.ping()
    except (RedisError, OSError):
        return JSON({"status": "unavailable", "redis": "down"}, status_code=503)
    return JSON({"status": "ready"})
