"""The ASGI app: all four providers' APIs on one port (their paths do not collide) plus /_sandbox/."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox import operator
from sandbox.accounts import PROVIDERS
from sandbox.churn import run_churn
from sandbox.errors import Problem
from sandbox.jsonio import respond
from sandbox.state import Sandbox


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return respond({"error": exc.message}, exc.status)


def create_app(state: Sandbox | None = None) -> Starlette:
    sb = state if state is not None else Sandbox()
    routes: list[BaseRoute] = operator.routes(sb)
    for provider in PROVIDERS.values():
        routes.extend(provider.routes(sb))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        churn = asyncio.create_task(run_churn(sb, sb.churn_interval)) if sb.churn_interval else None
        try:
            yield
        finally:
            if churn is not None:
                churn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await churn
            await sb.aclose()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={Problem: _problem})
    app.state.sandbox = sb
    return app
