"""The worker's copy of the subscriptions, reloaded whenever their version in Redis changes."""

from __future__ import annotations

from service.state.subscriptions import Subscription, SubscriptionStore


class SubscriptionCache:
    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store
        self._version: str | None = None
        self.subscriptions: dict[str, Subscription] = {}

    async def refresh(self) -> bool:
        """One GET when nothing changed; True when the set was reloaded."""
        version = await self._store.version()
        if version == self._version:
            return False
        self.subscriptions = {s.id: s for s in await self._store.all()}
        self._version = version
        return True

    def matching(self, account: str, event_type: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.matches(account, event_type)]
