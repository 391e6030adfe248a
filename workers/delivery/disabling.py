"""Disabling a subscription whose subscriber said it is gone (410), or failed for RELAY_DISABLE_AFTER."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import structlog
from redis.asyncio.client import Pipeline

from contracts.operational import subscription_disabled
from service.state.deliveries import DeliveryStore
from service.state.eventlog import EventLog
from service.state.subscriptions import Subscription, SubscriptionStore

log = structlog.get_logger("relay.delivery")


class Disabler:
    """Disables from one task per subscription, not from the attempt that learned of it: several attempts in
    flight may all get 410 at once, and `on_disabled` retires the subscription's lane."""

    def __init__(
        self,
        subscriptions: SubscriptionStore,
        deliveries: DeliveryStore,
        eventlog: EventLog,
        on_disabled: Callable[[str], None],
    ) -> None:
        self._subscriptions = subscriptions
        self._deliveries = deliveries
        self._eventlog = eventlog
        self._on_disabled = on_disabled
        self._running: dict[str, asyncio.Task[None]] = {}

    def disable_soon(self, subscription_id: str, *, reason: str, failing_since_ms: int | None) -> None:
        if subscription_id not in self._running:
            task = asyncio.create_task(self.disable(subscription_id, reason=reason, failing_since_ms=failing_since_ms))
            self._running[subscription_id] = task
            task.add_done_callback(lambda _: self._running.pop(subscription_id, None))

    async def disable(self, subscription_id: str, *, reason: str, failing_since_ms: int | None) -> None:
        """Disable it and log `relay.subscription.disabled` in one transaction (once, however many workers and
        callers), fail its queued deliveries, then `on_disabled`."""
        failing_since = None if failing_since_ms is None else datetime.fromtimestamp(failing_since_ms / 1000, UTC)

        async def report(pipe: Pipeline, before: Subscription, _after: Subscription) -> None:
            if before.enabled:
                event = subscription_disabled(
                    subscription_id=subscription_id,
                    url=before.url,
                    reason=reason,
                    failing_since=failing_since,
                    disabled_at=datetime.now(UTC),
                )
                await self._eventlog.queue_operational(pipe, event)

        changed = await self._subscriptions.update(subscription_id, lambda s: replace(s, enabled=False), report)
        if changed is not None and changed[0].enabled:
            failed = await self._deliveries.fail_all(subscription_id)
            log.warning("subscription_disabled", subscription_id=subscription_id, reason=reason, failed=failed)
        self._on_disabled(subscription_id)
