"""Subscriptions: who gets which events, stored in Redis as one JSON document each."""

from __future__ import annotations

import secrets as random_source
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from contracts.model import EVENT_TYPES
from contracts.operational import OPERATIONAL_TYPES, OPERATIONAL_WILDCARD, is_operational
from contracts.standard_webhooks import new_secret, secret_key
from contracts.times import format_time, parse_time
from service.state.keys import SUBSCRIPTIONS, SUBSCRIPTIONS_EPOCH, SUBSCRIPTIONS_VERSION
from service.state.redis_types import awaited, text

#: After a rotation the previous secret keeps signing beside the new one this long.
ROTATION_OVERLAP = timedelta(hours=24)
WILDCARD = "*"
MAX_FILTERS = 100
#: Subscriptions the relay holds at most: each is a delivery lane in every worker, and an idle worker's cost
#: was measured at this many (`make bench`, idle).
MAX_SUBSCRIPTIONS = 1000
#: The highest `rate_limit`, in delivery attempts per second.
MAX_RATE_LIMIT = 10_000
#: `ordering` values: "none" sends deliveries as they come; "invoice" sends one invoice's events one at a
#: time, in `data.sequence` order (see `service.state.deliveries`).
ORDERINGS = ("none", "invoice")


class InvalidSubscription(ValueError):
    """The request names a bad field; the message says which."""


@dataclass(frozen=True, slots=True)
class SigningSecret:
    secret: str
    #: None for the current secret; for a rotated-out one, when it stops signing.
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    event_types: tuple[str, ...]
    accounts: tuple[str, ...]
    enabled: bool
    created_at: datetime
    description: str | None
    secrets: tuple[SigningSecret, ...] = field(repr=False)
    #: At most this many delivery attempts a second, across every worker; None for no limit.
    rate_limit: int | None = None
    ordering: str = "none"

    def matches(self, account: str, event_type: str) -> bool:
        """Whether an event (`account` '' for one about no account) goes to this subscription. Operational
        events go only where named, exactly or as `relay.*`; the account filter applies to those about an
        account."""
        if not self.enabled:
            return False
        if is_operational(event_type):
            named = event_type in self.event_types or OPERATIONAL_WILDCARD in self.event_types
            return named and (not account or _matches(self.accounts, account))
        return _matches(self.accounts, account) and _type_matches(self.event_types, event_type)

    def signing_keys(self, now: datetime) -> list[bytes]:
        """The current secret's key, then any rotated-out one still inside its overlap."""
        return [secret_key(s.secret) for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def public(self) -> dict[str, Any]:
        """As the API shows it: never the secrets."""
        return {
            "id": self.id,
            "url": self.url,
            "event_types": list(self.event_types),
            "accounts": list(self.accounts),
            "enabled": self.enabled,
            "created_at": format_time(self.created_at),
            "description": self.description,
            "rate_limit": self.rate_limit,
            "ordering": self.ordering,
        }

    def to_json(self) -> bytes:
        document = self.public()
        document["secrets"] = [
            {"secret": s.secret, "expires_at": None if s.expires_at is None else format_time(s.expires_at)}
            for s in self.secrets
        ]
        return orjson.dumps(document)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Subscription:
        document = orjson.loads(raw)
        return cls(
            id=document["id"],
            url=document["url"],
            event_types=tuple(document["event_types"]),
            accounts=tuple(document["accounts"]),
            enabled=bool(document["enabled"]),
            created_at=parse_time(document["created_at"]),
            description=document.get("description"),
            secrets=tuple(
                SigningSecret(s["secret"], None if s["expires_at"] is None else parse_time(s["expires_at"]))
                for s in document["secrets"]
            ),
            # Stored before these fields existed: no limit, no order.
            rate_limit=document.get("rate_limit"),
            ordering=document.get("ordering") or "none",
        )


def _matches(filters: Sequence[str], value: str) -> bool:
    return WILDCARD in filters or value in filters


def _type_matches(filters: Sequence[str], event_type: str) -> bool:
    return WILDCARD in filters or "invoice.*" in filters or event_type in filters


def validate_event_types(value: object) -> tuple[str, ...]:
    if value is None:
        return (WILDCARD,)
    if not isinstance(value, list) or not value or len(value) > MAX_FILTERS:
        raise InvalidSubscription(f"event_types must be a non-empty list of at most {MAX_FILTERS} event types")
    allowed = {WILDCARD, "invoice.*", *EVENT_TYPES, OPERATIONAL_WILDCARD, *OPERATIONAL_TYPES}
    for item in value:
        if not isinstance(item, str) or item not in allowed:  # a list or object item is unhashable: not a 500
            raise InvalidSubscription(f"event_types: unknown event type {item!r}")
    return tuple(dict.fromkeys(value))


def validate_accounts(value: object, known: Iterable[str]) -> tuple[str, ...]:
    if value is None:
        return (WILDCARD,)
    if not isinstance(value, list) or not value or len(value) > MAX_FILTERS:
        raise InvalidSubscription(f"accounts must be a non-empty list of at most {MAX_FILTERS} account names")
    names = set(known)
    for item in value:
        if not isinstance(item, str) or (item != WILDCARD and item not in names):
            raise InvalidSubscription(f"accounts: unknown account {item!r}")
    return tuple(dict.fromkeys(value))


def validate_description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise InvalidSubscription("description must be a string of at most 1000 characters")
    return value


def validate_rate_limit(value: object) -> int | None:
    if value is None:
        return None
    # bool is an int in Python; `true` is not a rate.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        raise InvalidSubscription(
            f"rate_limit must be null (no limit) or an integer from 1 to {MAX_RATE_LIMIT} (attempts per second)"
        )
    return value


def validate_ordering(value: object) -> str:
    if not isinstance(value, str) or value not in ORDERINGS:
        raise InvalidSubscription(f"ordering must be one of {', '.join(repr(o) for o in ORDERINGS)}")
    return value


def new_subscription(
    *,
    url: str,
    event_types: tuple[str, ...],
    accounts: tuple[str, ...],
    description: str | None,
    now: datetime,
    rate_limit: int | None = None,
    ordering: str = "none",
) -> Subscription:
    return Subscription(
        id="sub_" + random_source.token_hex(12),
        url=url,
        event_types=event_types,
        accounts=accounts,
        enabled=True,
        created_at=now,
        description=description,
        secrets=(SigningSecret(new_secret()),),
        rate_limit=rate_limit,
        ordering=ordering,
    )


def rotated(subscription: Subscription, now: datetime) -> Subscription:
    """A new current secret; the old one signs beside it for ROTATION_OVERLAP, older ones are dropped."""
    current = next(s for s in subscription.secrets if s.expires_at is None)
    previous = SigningSecret(current.secret, now + ROTATION_OVERLAP)
    return replace(subscription, secrets=(SigningSecret(new_secret()), previous))


class SubscriptionStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def save(self, subscription: Subscription, *, limit: int | None = None) -> bool:
        """Store it; False, storing nothing, when it is new and `limit` subscriptions exist already."""
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if limit is not None:
                        await pipe.watch(SUBSCRIPTIONS)
                        held = await awaited(pipe.hlen(SUBSCRIPTIONS))
                        if held >= limit and not await awaited(pipe.hexists(SUBSCRIPTIONS, subscription.id)):
                            return False
                        pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(SUBSCRIPTIONS, subscription.id, subscription.to_json().decode())
                    _bump_version(pipe)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue

    async def update(
        self,
        subscription_id: str,
        change: Callable[[Subscription], Subscription],
        along: Callable[[Pipeline, Subscription, Subscription], Awaitable[None]] | None = None,
    ) -> tuple[Subscription, Subscription] | None:
        """Read, change and write one subscription atomically: (before, after), or None when it does not exist.
        `along` queues more commands in the same transaction (what the change must not happen without).

        Optimistic (WATCH): a concurrent save or delete makes it start over on the new state, so a patch and a
        rotation racing each other both land, and a patch never brings back a deleted subscription.
        """
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(SUBSCRIPTIONS)
                    raw = await awaited(pipe.hget(SUBSCRIPTIONS, subscription_id))
                    if raw is None:
                        return None
                    before = Subscription.from_json(raw)
                    after = change(before)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(SUBSCRIPTIONS, subscription_id, after.to_json().decode())
                    _bump_version(pipe)
                    if along is not None:
                        await along(pipe, before, after)
                    await pipe.execute()
                    return before, after
                except WatchError:
                    continue

    async def get(self, subscription_id: str) -> Subscription | None:
        raw = await awaited(self._redis.hget(SUBSCRIPTIONS, subscription_id))
        return None if raw is None else Subscription.from_json(raw)

    async def all(self) -> list[Subscription]:
        rows: Mapping[Any, Any] = await awaited(self._redis.hgetall(SUBSCRIPTIONS))
        subscriptions = [Subscription.from_json(raw) for raw in rows.values()]
        return sorted(subscriptions, key=lambda s: (s.created_at, s.id))

    async def delete(self, subscription_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(SUBSCRIPTIONS, subscription_id)
            _bump_version(pipe)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def ids(self) -> list[str]:
        return [text(subscription_id) for subscription_id in await awaited(self._redis.hkeys(SUBSCRIPTIONS))]

    async def version(self) -> str:
        """A token that changes with every save, update and delete, and never repeats after Redis lost its data
        (empty before the first change)."""
        epoch, counter = await awaited(self._redis.mget(SUBSCRIPTIONS_EPOCH, SUBSCRIPTIONS_VERSION))
        return f"{text(epoch or b'')}:{text(counter or b'')}"


def _bump_version(pipe: Pipeline) -> None:
    pipe.set(SUBSCRIPTIONS_EPOCH, random_source.token_hex(8), nx=True)
    pipe.incr(SUBSCRIPTIONS_VERSION)
