"""Classification of provider answers, shared by every provider module."""

from __future__ import annotations

from typing import Any

from contracts.errors import (
    ProviderAuthFailed,
    ProviderNotFound,
    ProviderRejected,
    ProviderTransient,
)
from contracts.jsonio import loads_exact
from contracts.wire import HttpResponse

_RETRYABLE = frozenset({408, 425, 429})


def raise_for_status(response: HttpResponse, provider: str) -> None:
    """Raise the typed error for a non-2xx answer; return quietly for a 2xx."""
    status = response.status
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise ProviderAuthFailed(f"{provider} answered {status}: credentials refused")
    if status == 404:
        raise ProviderNotFound(f"{provider} answered 404")
    if status in _RETRYABLE or status >= 500:
        raise ProviderTransient(f"{provider} answered {status}", retry_after=response.headers.get("retry-after"))
    raise ProviderRejected(f"{provider} answered {status}")


def json_body(response: HttpResponse, provider: str) -> Any:
    """The body as JSON; a body that does not parse is transient (a truncated answer can heal)."""
    try:
        return loads_exact(response.body)
    except ValueError as exc:
        raise ProviderTransient(f"{provider} sent a body that is not JSON") from exc
