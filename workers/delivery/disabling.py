"""Disabling a subscription whose subscriber said it is gone (410)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import structlog

from service.state.deliveries import DeliveryStore
from service.state.subscriptions import SubscriptionStore

log = structlog.get_logger("relay.delivery")


class Disabler:
    """Disables from one task per subscription, not from the attempt that learned of it: several attempts in
    flight may all get 410 at once, and `on_disabled` retires the subscription's lane."""

    def __init__(
        self, subscriptions: SubscriptionStore, deliveries: DeliveryStore, on_disabled: Callable[[str], None]
    ) -> None:
        self._subscriptions = subscriptions
        self._deliveries = deliveries
        self._on_disabled = on_disabled
        self._running: dict[str, asyncio.Task[None]] = {}

    def disable_soon(self, subscription_id: str, *, reason: str) -> None:
        if subscription_id not in self._running:
            task = asyncio.create_task(self.disable(subscription_id, reason=reason))
            self._running[subscription_id] = task
            task.add_done_callback(lambda _: self._running.pop(subscription_id, None))

    async def disable(self, subscription_id: str, *, reason: str) -> None:
        """Disable it (once, however many callers), fail its queued deliveries, then `on_disabled`."""
        changed = await self._subscriptions.update(subscription_id, lambda s: replace(s, enabled=False))
        if changed is not None and changed[0].enabled:
            failed = await self._deliveries.fail_all(subscription_id)
            log.warning("subscription_disabled", subscription_id=subscription_id, reason=reason, failed=failed)
        self._on_disabled(subscription_id)
