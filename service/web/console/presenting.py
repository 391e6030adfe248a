"""Turning stored records into the plain values the templates show (text and numbers only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from service.state.deliveries import SubscriptionFigures
from service.state.eventlog import LoggedEvent
from service.state.subscriptions import Subscription


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    type: str
    account: str
    at: str
    invoice: str
    status: str
    amount: str


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def event_row(event: LoggedEvent) -> EventRow:
    try:
        body = _object(orjson.loads(event.body))
    except orjson.JSONDecodeError:
        body = {}
    invoice = _object(_object(body.get("data")).get("invoice"))
    amount = " ".join(str(invoice[k]) for k in ("amount", "currency") if invoice.get(k) is not None)
    return EventRow(
        event_id=event.event_id,
        type=event.type,
        account=event.account,
        at=str(body.get("timestamp", "")),
        invoice=str(invoice.get("invoice_id") or ""),
        status=str(invoice.get("status") or ""),
        amount=amount,
    )


def pretty_json(body: bytes) -> str:
    """The body indented for reading; as stored when it is not JSON."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return body.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Health:
    delivered: int
    pending: int
    failed: int
    enabled: bool
    #: Delivered of those that ended, as a percentage text ("" when none ended yet).
    success_rate: str


def health(subscription: Subscription, figures: SubscriptionFigures) -> Health:
    delivered = figures.attempts.get("delivered", 0)
    failed = figures.dead_lettered
    ended = delivered + failed
    rate = f"{100 * delivered / ended:.1f}%" if ended else ""
    return Health(delivered, figures.pending, failed, subscription.enabled, rate)
