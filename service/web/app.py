"""The Starlette application: `uvicorn --factory service.web.app:create_app` (the Procfile's `web`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service.config import Settings, config_warnings, load_settings_or_exit
from service.logging import configure_logging
from service.state.memory import UnsafePolicy, check_policy
from service.tracing import configure_tracing, shutdown_tracing
from service.web import admin, health, openapi, subscriptions_api, webhooks
from service.web.console.headers import ConsoleHeaders
from service.web.console.routes import console
from service.web.deps import WebDeps
from service.web.responses import error

log = structlog.get_logger("relay.web")


class RequestContext:
    """Binds a request id (the caller's `x-request-id`, or a new one) to every log line of the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Process id and a counter: unique across the deployment's processes, and cheaper than a uuid4
        # on the callback path.
        self._prefix = f"{os.getpid():x}-"
        self._numbers = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
                break
        structlog.contextvars.bind_contextvars(request_id=request_id or f"{self._prefix}{next(self._numbers):x}")
        await self.app(scope, receive, send)


async def redis_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("redis_unavailable", error=type(exc).__name__, path=request.url.path)
    return error(503, "redis_unavailable", headers={"retry-after": "5"})


def routes() -> list[Route]:
    return [
        Route("/webhooks/{account}", webhooks.CallbackEndpoint(), methods=["POST"]),
        Route("/accounts/{account}/sync", admin.trigger_account, methods=["POST"]),
        Route("/sync", admin.trigger_all, methods=["POST"]),
        Route("/accounts", admin.list_accounts, methods=["GET"]),
        Route("/events", admin.list_events, methods=["GET"]),
        Route("/events/{event_id}", admin.get_event, methods=["GET"]),
        Route("/subscriptions", subscriptions_api.create, methods=["POST"]),
        Route("/subscriptions", subscriptions_api.list_all, methods=["GET"]),
        Route("/subscriptions/{subscription_id}", subscriptions_api.get_one, methods=["GET"]),
        Route("/subscriptions/{subscription_id}", subscriptions_api.patch, methods=["PATCH"]),
        Route("/subscriptions/{subscription_id}", subscriptions_api.delete, methods=["DELETE"]),
        Route("/subscriptions/{subscription_id}/rotate-secret", subscriptions_api.rotate_secret, methods=["POST"]),
        Route("/subscriptions/{subscription_id}/deliveries", subscriptions_api.deliveries, methods=["GET"]),
        Route("/subscriptions/{subscription_id}/replay", subscriptions_api.replay, methods=["POST"]),
        Route("/subscriptions/{subscription_id}/recover", subscriptions_api.recover, methods=["POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics_text, methods=["GET"]),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
    ]


#: Seconds between the web's attempts to reach a Redis that was not reachable at start: doubling, to a minute.
REDIS_WAIT_FIRST_S = 1.0
REDIS_WAIT_MAX_S = 60.0


async def refuse_evicting_redis(deps: WebDeps) -> bool:
    """Stop at start on a Redis that may evict keys when full. False: Redis is not reachable yet (the
    workers check its policy when it is)."""
    try:
        found = await deps.stores.memory()
    except RedisError as exc:
        log.warning("redis_unreachable_at_start", error=type(exc).__name__)
        return False
    try:
        check_policy(found)
    except UnsafePolicy as exc:
        log.error("redis_policy_unsafe", detail=str(exc))
        raise
    return True


async def wait_for_redis(deps: WebDeps) -> None:
    """Try a Redis unreachable at start until it answers, each attempt further apart: the failures are
    logged (by the client's retry) even while no request comes in, and so is the first success."""
    delay = REDIS_WAIT_FIRST_S
    while True:
        await asyncio.sleep(delay)
        try:
            await deps.stores.memory()
        except RedisError:
            delay = min(delay * 2, REDIS_WAIT_MAX_S)
        else:
            return


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app. Without `settings` (uvicorn's factory, the Procfile's `web`), they are read from the
    environment: an invalid configuration ends the process with status 2 and one line per problem, before
    uvicorn starts. The process's logging is configured here, not at start-up: uvicorn calls the factory before
    it logs its first line, so every line of the process goes through the same renderer. A caller that hands in
    settings (a test) keeps its own logging."""
    if settings is None:
        settings = load_settings_or_exit()
        configure_logging(settings.secrets(), log_format=settings.log_format, level=settings.log_level)
        configure_tracing("web")
    resolved = settings

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for warning in config_warnings(resolved):
            log.warning("configuration_warning", detail=warning)
        app.state.deps = WebDeps.build(resolved)
        reachable = await refuse_evicting_redis(app.state.deps)
        waiting = None if reachable else asyncio.create_task(wait_for_redis(app.state.deps), name="wait-for-redis")
        # Everything alive after start-up (modules, routes, settings) lives as long as the process: moved out
        # of the collector's generations, the collections that run between callbacks have less to scan.
        gc.freeze()
        try:
            yield
        finally:
            if waiting is not None:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            await app.state.deps.close()
            shutdown_tracing()

    app = Starlette(
        # The JSON API (described in openapi.py), then the operator console's HTML pages.
        routes=[*routes(), *console()],
        lifespan=lifespan,
        exception_handlers={RedisError: redis_unavailable, ConnectionError: redis_unavailable},
    )
    app.add_middleware(ConsoleHeaders)
    app.add_middleware(RequestContext)
    return app
