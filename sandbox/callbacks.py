"""Sending providers' callbacks over real HTTP, counting what became of each."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.state import Account, Sandbox

TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One signed callback, ready to POST."""

    url: str
    headers: dict[str, str]
    body: bytes
    label: str  # what it announces, for the stats

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "headers": self.headers, "body": self.body.decode()}


@dataclass(frozen=True, slots=True)
class Delivery:
    status_code: int | None  # None: no answer
    body: str
    error: str | None


def record(account: Account, out: Outgoing | None, delivery: Delivery, at: str) -> None:
    stats = account.stats
    if delivery.status_code is None:
        stats.callbacks_failed += 1
    else:
        stats.callbacks_sent += 1
        if not 200 <= delivery.status_code < 300:
            stats.callbacks_rejected += 1
    stats.last_callback = {
        "at": at,
        "url": out.url if out else None,
        "label": out.label if out else None,
        "status_code": delivery.status_code,
        "error": delivery.error,
    }


@functools.cache
def _tls() -> ssl.SSLContext:
    """Loading the trust store is most of what making a client costs: done once, not per callback."""
    return ssl.create_default_context()


async def deliver(sb: Sandbox, account: Account, out: Outgoing) -> Delivery:
    try:
        # A client per callback: nothing is left open if the app never shuts down.
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, verify=_tls()) as client:
            response = await client.post(out.url, content=out.body, headers=out.headers)
        delivery = Delivery(response.status_code, response.text, None)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        delivery = Delivery(None, "", f"{type(exc).__name__}: {exc}")
    record(account, out, delivery, sb.now().isoformat())
    return delivery


async def _deliver_quietly(sb: Sandbox, account: Account, out: Outgoing) -> None:
    await deliver(sb, account, out)


def send_in_background(sb: Sandbox, account: Account, out: Outgoing) -> None:
    sb.spawn(_deliver_quietly(sb, account, out))
