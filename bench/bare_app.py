"""The ceiling for the ingest benchmark: a bare Starlette POST endpoint, served like the relay's web process."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_ACCEPTED = b'{"status":"accepted"}'


async def accept(request: Request) -> Response:
    await request.body()
    return Response(_ACCEPTED, status_code=202, media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/webhooks/{account}", accept, methods=["POST"]), Route("/", ready)])
