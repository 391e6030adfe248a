"""Sending `contracts` requests to providers over one shared httpx client per worker process."""

from __future__ import annotations

import httpx

from contracts.errors import ProviderTransient
from contracts.wire import HttpRequest, HttpResponse


def new_client(timeout: float) -> httpx.AsyncClient:
    # Redirects are not followed: a provider API that redirects is misconfigured, and following would
    # send credentials to wherever it points.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"user-agent": "invoice-relay"},
    )


async def send(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse:
    """Network failures become `ProviderTransient`. Messages use `log_url` only: URLs may hold keys."""
    try:
        response = await client.request(request.method, request.url, headers=request.headers, content=request.body)
    except httpx.TimeoutException as exc:
        raise ProviderTransient(f"timeout calling {request.method} {request.log_url}") from exc
    except httpx.TransportError as exc:
        raise ProviderTransient(f"{type(exc).__name__} calling {request.method} {request.log_url}") from exc
    return HttpResponse(
        status=response.status_code,
        headers={name.lower(): value for name, value in response.headers.items()},
        body=response.content,
    )
