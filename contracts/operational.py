"""Operational events: what the relay tells subscribers about itself, in the invoice events' envelope.

They are logged and delivered like invoice events (signed, retried), but only to subscriptions that name them,
exactly or as `relay.*`: a subscription to `*` asked for invoice events and does not get these. Their bodies
are made here, pure; `schemas/operational-event.schema.json` describes them.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.jsonio import dumps
from contracts.times import format_time

SUBSCRIPTION_DISABLED = "relay.subscription.disabled"
DELIVERY_EXHAUSTED = "relay.delivery.exhausted"
ACCOUNT_SYNC_FAILING = "relay.account.sync_failing"
ACCOUNT_SYNC_RECOVERED = "relay.account.sync_recovered"
OPERATIONAL_TYPES: tuple[str, ...] = (
    SUBSCRIPTION_DISABLED,
    DELIVERY_EXHAUSTED,
    ACCOUNT_SYNC_FAILING,
    ACCOUNT_SYNC_RECOVERED,
)
OPERATIONAL_WILDCARD = "relay.*"
#: Why a subscription was disabled: its subscriber answered 410 Gone, or failed for RELAY_DISABLE_AFTER.
GONE = "gone"
FAILING = "failing"


def is_operational(event_type: str) -> bool:
    return event_type.startswith("relay.")


@dataclass(frozen=True, slots=True)
class OperationalEvent:
    id: str
    type: str
    timestamp: datetime
    #: The account it is about; None for events about the relay's subscriptions.
    account: str | None
    data: dict[str, Any]

    def to_json(self) -> bytes:
        """The exact body delivered to subscribers and kept in the event log."""
        return dumps({"id": self.id, "type": self.type, "timestamp": format_time(self.timestamp), "data": self.data})


def occurrence_id(event_type: str, *identity: str) -> str:
    """Deterministic, like invoice events' ids: every worker that notices the same occurrence (named by
    `identity`) makes the same id, so the log keeps it once."""
    material = "\x00".join((event_type, *identity)).encode()
    return "evt_" + base64.b32encode(hashlib.blake2b(material, digest_size=15).digest()).decode().lower()


def _time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def subscription_disabled(
    *, subscription_id: str, url: str, reason: str, failing_since: datetime | None, disabled_at: datetime
) -> OperationalEvent:
    return OperationalEvent(
        id=occurrence_id(SUBSCRIPTION_DISABLED, subscription_id, format_time(disabled_at)),
        type=SUBSCRIPTION_DISABLED,
        timestamp=disabled_at,
        account=None,
        data={
            "subscription_id": subscription_id,
            "url": url,
            "reason": reason,
            "failing_since": _time_or_none(failing_since),
        },
    )


def delivery_exhausted(
    *,
    subscription_id: str,
    event_id: str,
    event_type: str,
    attempts: int,
    last_attempt: dict[str, Any],
    at: datetime,
) -> OperationalEvent:
    """`last_attempt`: the attempt as the deliveries listing shows it (`at`, `status_code`, `error`, ...)."""
    return OperationalEvent(
        id=occurrence_id(DELIVERY_EXHAUSTED, subscription_id, event_id, last_attempt["at"]),
        type=DELIVERY_EXHAUSTED,
        timestamp=at,
        account=None,
        data={
            "subscription_id": subscription_id,
            "event_id": event_id,
            "event_type": event_type,
            "attempts": attempts,
            "last_attempt": {key: last_attempt.get(key) for key in ("at", "status_code", "error")},
        },
    )


def sync_failing(*, account: str, status: str, error: str | None, since: datetime) -> OperationalEvent:
    return OperationalEvent(
        id=occurrence_id(ACCOUNT_SYNC_FAILING, account, format_time(since)),
        type=ACCOUNT_SYNC_FAILING,
        timestamp=since,
        account=account,
        data={"account": account, "status": status, "error": error, "since": format_time(since)},
    )


def sync_recovered(*, account: str, failing_since: datetime, at: datetime) -> OperationalEvent:
    return OperationalEvent(
        id=occurrence_id(ACCOUNT_SYNC_RECOVERED, account, format_time(failing_since)),
        type=ACCOUNT_SYNC_RECOVERED,
        timestamp=at,
        account=account,
        data={"account": account, "failing_since": format_time(failing_since)},
    )
