"""Sending one signed event to one subscriber URL, over `workers.delivery.webhook_client` (see there why not aiohttp)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.standard_webhooks import signature_header
from contracts.times import format_time
from workers.delivery.webhook_client import DeliveryFailed, WebhookClient

USER_AGENT = "invoice-relay/0.1.0 (+https://github.com/invoice-relay)"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: float
    retry_after: str | None
    #: The start of what the subscriber answered, as text (None when no answer came).
    response: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_json(self) -> dict[str, object]:
        return {
            "at": format_time(self.at),
            "status_code": self.status_code,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "response": self.response,
        }


async def send_event(
    client: WebhookClient, url: str, *, event_id: str, body: bytes, keys: list[bytes]
) -> AttemptResult:
    """One attempt, within the client's time limit (`RELAY_DELIVERY_TIMEOUT`)."""
    at = datetime.now(UTC)
    timestamp = int(at.timestamp())
    headers = (
        ("content-type", "application/json"),
        ("user-agent", USER_AGENT),
        ("webhook-id", event_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signature_header(keys, event_id, timestamp, body)),
    )
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    retry_after: str | None = None
    response: str | None = None
    try:
        answer = await client.post(url, headers, body)
        status, retry_after = answer.status, answer.retry_after
        response = answer.excerpt.decode("utf-8", errors="replace")
    except TimeoutError:
        error = f"timed out after {client.timeout:g}s"
    except DeliveryFailed as exc:
        error = str(exc)[:300]
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    latency = round((time.monotonic() - started) * 1000, 1)
    return AttemptResult(at, status, error, latency, retry_after, response)
