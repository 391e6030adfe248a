"""What an operator can do to a subscription, whichever face asks: the JSON API and the console both call these,
so each rule (validation, the limit, what disabling or re-enabling does to queued deliveries, what a replay or a
recovery picks) is written once. Callers turn their own input into the documents these take, and the outcomes
(or the exceptions) into their own answers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from contracts.times import parse_rfc3339
from service.ssrf import ForbiddenTarget, check_target
from service.state.deliveries import RECOVER, REPLAY
from service.state.subscriptions import (
    MAX_SUBSCRIPTIONS,
    InvalidSubscription,
    Subscription,
    new_subscription,
    rotated,
    validate_accounts,
    validate_description,
    validate_event_types,
    validate_ordering,
    validate_rate_limit,
)
from service.web.deps import WebDeps

CREATE_FIELDS = frozenset({"url", "event_types", "accounts", "description", "rate_limit", "ordering"})
PATCH_FIELDS = frozenset({"url", "event_types", "accounts", "enabled", "description", "rate_limit", "ordering"})
MAX_REPLAY_IDS = 10_000


class TooManySubscriptions(Exception):
    """The relay holds MAX_SUBSCRIPTIONS already."""

    def __init__(self) -> None:
        super().__init__(f"the relay holds at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first")


class SubscriptionDisabled(Exception):
    """Deliveries cannot be queued again for a disabled subscription; the message says what to do."""


def time_format(name: str) -> str:
    return f"{name} must be an RFC 3339 time with an offset, Z or +hh:mm (2026-11-22T10:00:00Z)"


def document_time(document: Mapping[str, Any], name: str) -> datetime:
    """An RFC 3339 field of a request document; `InvalidSubscription` saying the format otherwise."""
    try:
        return parse_rfc3339(document[name])
    except ValueError as exc:
        raise InvalidSubscription(time_format(name)) from exc


def refuse_unknown(document: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InvalidSubscription(f"unknown field(s): {', '.join(unknown)}")


async def _target(deps: WebDeps, url: object) -> str:
    try:
        return await check_target(url, allow_private=deps.settings.allow_private_urls)
    except ForbiddenTarget as exc:
        raise InvalidSubscription(str(exc)) from exc


async def create(deps: WebDeps, document: Mapping[str, Any]) -> Subscription:
    """A new subscription from `document` (CREATE_FIELDS), stored; its first secret is in `secrets[0]`."""
    refuse_unknown(document, CREATE_FIELDS)
    subscription = new_subscription(
        url=await _target(deps, document.get("url")),
        event_types=validate_event_types(document.get("event_types")),
        accounts=validate_accounts(document.get("accounts"), deps.settings.accounts),
        description=validate_description(document.get("description")),
        now=datetime.now(UTC),
        rate_limit=validate_rate_limit(document.get("rate_limit")),
        ordering=validate_ordering(document.get("ordering", "none")),
    )
    if not await deps.stores.subscriptions.save(subscription, limit=MAX_SUBSCRIPTIONS):
        raise TooManySubscriptions
    return subscription


async def _changes(deps: WebDeps, document: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown(document, PATCH_FIELDS)
    changes: dict[str, Any] = {}
    if "url" in document:
        changes["url"] = await _target(deps, document["url"])
    if "event_types" in document:
        changes["event_types"] = validate_event_types(document["event_types"])
    if "accounts" in document:
        changes["accounts"] = validate_accounts(document["accounts"], deps.settings.accounts)
    if "description" in document:
        changes["description"] = validate_description(document["description"])
    if "enabled" in document:
        if not isinstance(document["enabled"], bool):
            raise InvalidSubscription("enabled must be true or false")
        changes["enabled"] = document["enabled"]
    if "rate_limit" in document:
        changes["rate_limit"] = validate_rate_limit(document["rate_limit"])
    if "ordering" in document:
        changes["ordering"] = validate_ordering(document["ordering"])
    return changes


async def change(deps: WebDeps, subscription_id: str, document: Mapping[str, Any]) -> Subscription | None:
    """Apply `document` (PATCH_FIELDS) to the stored subscription; None when it does not exist (any more)."""
    changes = await _changes(deps, document)
    # Applied to the stored copy atomically: a concurrent rotation is kept, a concurrent delete is not undone.
    result = await deps.stores.subscriptions.update(subscription_id, lambda current: replace(current, **changes))
    if result is None:
        return None
    before, updated = result
    if before.enabled and not updated.enabled:
        # The operator API's `failed` covers deliveries given up because the subscription was disabled.
        await deps.stores.deliveries.fail_all(subscription_id)
    elif updated.enabled and not before.enabled:
        # Enabled again: RELAY_DISABLE_AFTER counts from its next failure, not from the streak that ended it.
        await deps.stores.deliveries.clear_failing(subscription_id)
    if before.ordering == "invoice" and updated.ordering != "invoice":
        # Deliveries held back behind an earlier one of their invoice go now: no order is kept any more.
        await deps.stores.deliveries.release_waiting(subscription_id, int(time.time() * 1000))
    return updated


async def delete(deps: WebDeps, subscription_id: str) -> bool:
    """Remove the subscription and its deliveries; False when it did not exist."""
    if not await deps.stores.subscriptions.delete(subscription_id):
        return False
    await deps.stores.deliveries.forget(subscription_id)
    return True


async def rotate_secret(deps: WebDeps, subscription_id: str) -> Subscription | None:
    """A new current secret (`secrets[0]`), the previous one signing beside it for the overlap (`secrets[1]`)."""
    now = datetime.now(UTC)
    result = await deps.stores.subscriptions.update(subscription_id, lambda current: rotated(current, now))
    return None if result is None else result[1]


#: Reads the request's document: called only once the subscription is known to be enabled, so that a disabled
#: one is refused whatever it was sent.
DocumentReader = Callable[[], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class Requeued:
    queued: int
    #: Unix ms of the oldest event the log still holds (None: the log is empty).
    oldest_kept_ms: int | None
    #: For a replay, the ids asked for that the log does not hold (None for a recovery).
    unknown: list[str] | None = None


#: `replay` or `recover`.
RequeueAction = Callable[[WebDeps, Subscription, DocumentReader], Awaitable[Requeued]]


def _enabled_or_refuse(subscription: Subscription, action: str) -> None:
    if not subscription.enabled:
        raise SubscriptionDisabled(f"enable the subscription before {action}")


async def replay(deps: WebDeps, subscription: Subscription, read: DocumentReader) -> Requeued:
    """Queue again the matching events logged since `since`, or those of `event_ids`."""
    _enabled_or_refuse(subscription, "replaying to it")
    document = await read()
    refuse_unknown(document, frozenset({"since", "event_ids"}))
    if ("since" in document) == ("event_ids" in document):
        raise InvalidSubscription("give exactly one of 'since' (RFC 3339) or 'event_ids'")
    unknown: list[str] = []
    if "since" in document:
        event_ids = await _matching_since(deps, subscription, document_time(document, "since"))
    else:
        event_ids, unknown = await _matching_ids(deps, subscription, document["event_ids"])
    return await _queued_again(deps, subscription, event_ids, REPLAY, unknown)


async def recover(deps: WebDeps, subscription: Subscription, read: DocumentReader) -> Requeued:
    """Queue again only the `failed` deliveries of events logged in [since, until]."""
    _enabled_or_refuse(subscription, "recovering its deliveries")
    document = await read()
    refuse_unknown(document, frozenset({"since", "until"}))
    if "since" not in document:
        raise InvalidSubscription("since (RFC 3339) is required")
    since = document_time(document, "since")
    until = document_time(document, "until") if document.get("until") is not None else None
    if until is not None and until < since:
        raise InvalidSubscription("until must not be before since")
    in_window = await _matching_since(deps, subscription, since, until)
    failed = await deps.stores.deliveries.failed_among(subscription.id, in_window)
    return await _queued_again(deps, subscription, failed, RECOVER)


async def _queued_again(
    deps: WebDeps, subscription: Subscription, event_ids: list[str], trigger: str, unknown: list[str] | None = None
) -> Requeued:
    queued = await deps.stores.deliveries.requeue(subscription.id, event_ids, int(time.time() * 1000), trigger)
    # Events past RELAY_RETENTION have left the log: the answer says from when on they can be found.
    return Requeued(queued, await deps.stores.retention.oldest_kept_ms(), unknown)


async def _matching_since(
    deps: WebDeps, subscription: Subscription, since: datetime, until: datetime | None = None
) -> list[str]:
    found: list[str] = []
    until_ms = None if until is None else int(until.timestamp() * 1000)
    async for event in deps.stores.eventlog.since(int(since.timestamp() * 1000), until_ms):
        if subscription.matches(event.account, event.type):
            found.append(event.event_id)
    return found


async def _matching_ids(deps: WebDeps, subscription: Subscription, event_ids: object) -> tuple[list[str], list[str]]:
    """The requested events that match the subscription, and the requested ids the log does not hold."""
    if (
        not isinstance(event_ids, list)
        or not 0 < len(event_ids) <= MAX_REPLAY_IDS
        or not all(isinstance(i, str) for i in event_ids)
    ):
        raise InvalidSubscription(f"event_ids must be a list of 1 to {MAX_REPLAY_IDS} event ids")
    found: list[str] = []
    unknown: list[str] = []
    for event_id in dict.fromkeys(event_ids):
        event = await deps.stores.eventlog.get(event_id)
        if event is None:
            unknown.append(event_id)
        elif subscription.matches(event.account, event.type):
            found.append(event.event_id)
    return found, unknown
