"""The canonical invoice and the event envelope, exactly as the event contract (README) shows them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from contracts.jsonio import dumps
from contracts.money import format_amount
from contracts.times import format_time


class Status(StrEnum):
    PENDING = "pending"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERPAID = "overpaid"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"


INVOICE_CREATED = "invoice.created"
INVOICE_UPDATED = "invoice.updated"
EVENT_TYPES: tuple[str, ...] = (
    INVOICE_CREATED,
    INVOICE_UPDATED,
    *(f"invoice.{status.value}" for status in Status),
)


def status_event_type(status: Status) -> str:
    return f"invoice.{status.value}"


def map_status(provider_status: str, table: Mapping[str, Status]) -> Status:
    """Provider statuses compare case-insensitively; anything else is `unknown`, never an error."""
    return table.get(provider_status.strip().lower(), Status.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Invoice:
    account: str
    provider: str
    invoice_id: str
    status: Status
    provider_status: str
    amount: Decimal
    amount_paid: Decimal | None
    currency: str
    order_id: str | None = None
    customer_id: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    due_at: datetime | None = None
    test_mode: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return f"{self.account}:{self.invoice_id}"

    def canonical(self) -> dict[str, Any]:
        """Every canonical field but `raw`, as JSON values: what change detection compares."""
        return {
            "key": self.key,
            "account": self.account,
            "provider": self.provider,
            "invoice_id": self.invoice_id,
            "status": self.status.value,
            "provider_status": self.provider_status,
            "amount": format_amount(self.amount),
            "amount_paid": None if self.amount_paid is None else format_amount(self.amount_paid),
            "currency": self.currency,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "description": self.description,
            "created_at": None if self.created_at is None else format_time(self.created_at),
            "due_at": None if self.due_at is None else format_time(self.due_at),
            "test_mode": self.test_mode,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.canonical(), "raw": self.raw}


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    timestamp: datetime
    sequence: int
    previous_status: Status | None
    invoice: Invoice

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "timestamp": format_time(self.timestamp),
            "data": {
                "sequence": self.sequence,
                "previous_status": None if self.previous_status is None else self.previous_status.value,
                "invoice": self.invoice.to_dict(),
            },
        }

    def to_json(self) -> bytes:
        """The exact body delivered to subscribers and kept in the event log."""
        return dumps(self.to_dict())
