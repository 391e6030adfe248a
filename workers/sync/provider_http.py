"""The one way out to a provider: `Sender`, and its transport over one shared HTTP session per worker.

Everything the sync sends (list pages, logins) goes through one `Sender`, so tests and benchmarks can put
any transport in its place. aiohttp rather than httpx underneath: a re-sync of a large account is a
thousand page requests back to back, and profiling one showed httpx's per-request overhead as the largest
single cost of the sync (measured here: httpx ~700 requests/s at concurrency 1, aiohttp ~2,500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
from opentelemetry.trace import SpanKind
from yarl import URL

from contracts.errors import ProviderPermanent, ProviderTransient
from contracts.wire import HttpRequest, HttpResponse
from service.tracing import TRACING

#: Sends one request to a provider; network failures raise `ProviderTransient`.
Sender = Callable[[HttpRequest], Awaitable[HttpResponse]]


def traced(send: Sender) -> Sender:
    """`send` with a span per request: method, path (never the query, which may hold a key), status, time."""

    async def send_traced(request: HttpRequest) -> HttpResponse:
        where = urlsplit(request.log_url)
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "url.path": where.path,
            "server.address": where.hostname or "",
        }
        with TRACING.tracer.start_as_current_span(
            "provider request", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            response = await send(request)
            span.set_attribute("http.response.status_code", response.status)
            return response

    return send_traced


class ProviderHttp:
    """A `Sender` over one aiohttp session: pooled connections, the time limit on every request, and answers
    read up to `max_body` bytes (RELAY_PROVIDER_MAX_BODY): past it the answer is dropped unread, so a provider
    streaming an endless body costs at most that much memory."""

    def __init__(self, timeout: float, max_body: int) -> None:
        self._max_body = max_body
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0)),
            connector=aiohttp.TCPConnector(limit=100),
            headers={"user-agent": "invoice-relay"},
        )

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        """Network failures become `ProviderTransient`. Messages use `log_url` only: URLs may hold keys."""
        try:
            async with self._session.request(
                request.method,
                URL(request.url, encoded=True),  # sent exactly as `contracts` built it
                headers=request.headers,
                data=request.body,
                # Not followed: a provider API that redirects is misconfigured, and following would send
                # credentials to wherever it points.
                allow_redirects=False,
            ) as response:
                body = await self._read(request, response)
                headers = {name.lower(): value for name, value in response.headers.items()}
                return HttpResponse(status=response.status, headers=headers, body=body)
        except TimeoutError as exc:
            raise ProviderTransient(f"timeout calling {request.method} {request.log_url}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ProviderTransient(f"{type(exc).__name__} calling {request.method} {request.log_url}") from exc

    async def _read(self, request: HttpRequest, response: aiohttp.ClientResponse) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self._max_body:
            raise self._too_large(request, f"declares {declared} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > self._max_body:
                raise self._too_large(request, "goes on")
        return bytes(body)

    def _too_large(self, request: HttpRequest, how: str) -> ProviderPermanent:
        # Permanent: the same request would bring the same answer, and reading it again costs as much.
        return ProviderPermanent(
            f"the answer to {request.method} {request.log_url} {how} past the limit of {self._max_body} bytes "
            "(RELAY_PROVIDER_MAX_BODY)"
        )

    async def close(self) -> None:
        await self._session.close()
