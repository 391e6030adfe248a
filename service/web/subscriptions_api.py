"""`/subscriptions`: create, list, get, patch, delete, rotate the secret, list deliveries, replay, recover."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from contracts.times import format_time, parse_rfc3339
from service.ssrf import ForbiddenTarget, check_target
from service.state.deliveries import RECOVER, REPLAY, STATUSES
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
from service.web.admin import admin_only, parse_limit
from service.web.deps import WebDeps
from service.web.responses import JSON, error

_CREATE_FIELDS = {"url", "event_types", "accounts", "description", "rate_limit", "ordering"}
_PATCH_FIELDS = {"url", "event_types", "accounts", "enabled", "description", "rate_limit", "ordering"}
MAX_REPLAY_IDS = 10_000


def time_format(name: str) -> str:
    return f"{name} must be an RFC 3339 time with an offset, Z or +hh:mm (2026-11-22T10:00:00Z)"


SINCE_FORMAT = time_format("since")


def _deps(request: Request) -> WebDeps:
    deps: WebDeps = request.app.state.deps
    return deps


async def _json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    body = await request.body()
    try:
        document = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidSubscription("the body must be a JSON object") from exc
    if not isinstance(document, dict):
        raise InvalidSubscription("the body must be a JSON object")
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InvalidSubscription(f"unknown field(s): {', '.join(unknown)}")
    return document


async def _target(deps: WebDeps, url: object) -> str:
    try:
        return await check_target(url, allow_private=deps.settings.allow_private_urls)
    except ForbiddenTarget as exc:
        raise InvalidSubscription(str(exc)) from exc


async def _load(request: Request) -> Subscription | None:
    return await _deps(request).stores.subscriptions.get(request.path_params["subscription_id"])


def _not_found() -> Response:
    return error(404, "unknown_subscription")


@admin_only
async def create(request: Request) -> Response:
    deps = _deps(request)
    try:
        document = await _json_object(request, _CREATE_FIELDS)
        subscription = new_subscription(
            url=await _target(deps, document.get("url")),
            event_types=validate_event_types(document.get("event_types")),
            accounts=validate_accounts(document.get("accounts"), deps.settings.accounts),
            description=validate_description(document.get("description")),
            now=datetime.now(UTC),
            rate_limit=validate_rate_limit(document.get("rate_limit")),
            ordering=validate_ordering(document.get("ordering", "none")),
        )
    except InvalidSubscription as exc:
        return error(400, "invalid_subscription", str(exc))
    if not await deps.stores.subscriptions.save(subscription, limit=MAX_SUBSCRIPTIONS):
        return error(
            409,
            "too_many_subscriptions",
            f"the relay holds at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first",
        )
    return JSON({**subscription.public(), "secret": subscription.secrets[0].secret}, status_code=201)


@admin_only
async def list_all(request: Request) -> Response:
    subscriptions = await _deps(request).stores.subscriptions.all()
    return JSON({"subscriptions": [s.public() for s in subscriptions]})


@admin_only
async def get_one(request: Request) -> Response:
    subscription = await _load(request)
    return _not_found() if subscription is None else JSON(subscription.public())


@admin_only
async def patch(request: Request) -> Response:
    deps = _deps(request)
    subscription = await _load(request)
    if subscription is None:
        return _not_found()
    try:
        document = await _json_object(request, _PATCH_FIELDS)
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
    except InvalidSubscription as exc:
        return error(400, "invalid_subscription", str(exc))
    # Applied to the stored copy atomically: a concurrent rotation is kept, a concurrent delete is not undone.
    result = await deps.stores.subscriptions.update(subscription.id, lambda current: replace(current, **changes))
    if result is None:
        return _not_found()
    before, updated = result
    if before.enabled and not updated.enabled:
        # The operator API's `failed` covers deliveries given up because the subscription was disabled.
        await deps.stores.deliveries.fail_all(subscription.id)
    elif updated.enabled and not before.enabled:
        # Enabled again: RELAY_DISABLE_AFTER counts from its next failure, not from the streak that ended it.
        await deps.stores.deliveries.clear_failing(subscription.id)
    if before.ordering == "invoice" and updated.ordering != "invoice":
        # Deliveries held back behind an earlier one of their invoice go now: no order is kept any more.
        await deps.stores.deliveries.release_waiting(subscription.id, int(time.time() * 1000))
    return JSON(updated.public())


@admin_only
async def delete(request: Request) -> Response:
    deps = _deps(request)
    subscription_id = request.path_params["subscription_id"]
    if not await deps.stores.subscriptions.delete(subscription_id):
        return _not_found()
    await deps.stores.deliveries.forget(subscription_id)
    return Response(status_code=204)


@admin_only
async def rotate_secret(request: Request) -> Response:
    deps = _deps(request)
    now = datetime.now(UTC)
    result = await deps.stores.subscriptions.update(
        request.path_params["subscription_id"], lambda current: rotated(current, now)
    )
    if result is None:
        return _not_found()
    _, updated = result
    previous = updated.secrets[1]
    return JSON(
        {
            "id": updated.id,
            "secret": updated.secrets[0].secret,
            "previous_secret_expires_at": None if previous.expires_at is None else format_time(previous.expires_at),
        }
    )


@admin_only
async def deliveries(request: Request) -> Response:
    deps = _deps(request)
    subscription = await _load(request)
    if subscription is None:
        return _not_found()
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        return error(400, "bad_request", f"status must be one of {', '.join(STATUSES)}")
    try:
        limit = parse_limit(query.get("limit"))
        since = _time_param(query, "since")
        until = _time_param(query, "until")
        event_type = query.get("type") or None
        if event_type is not None:
            validate_event_types([event_type])
    except (ValueError, InvalidSubscription) as exc:
        return error(400, "bad_request", str(exc))
    rows = await deps.stores.deliveries.list(
        subscription.id, status=status, limit=limit, since_ms=since, until_ms=until, event_type=event_type
    )
    return JSON({"deliveries": rows})


def _time_param(query: Mapping[str, str], name: str) -> int | None:
    """An RFC 3339 query parameter as unix ms; None when absent."""
    value = query.get(name)
    if not value:
        return None
    try:
        return int(parse_rfc3339(value).timestamp() * 1000)
    except ValueError as exc:
        raise ValueError(time_format(name)) from exc


@admin_only
async def replay(request: Request) -> Response:
    deps = _deps(request)
    subscription = await _load(request)
    if subscription is None:
        return _not_found()
    if not subscription.enabled:
        return error(409, "subscription_disabled", "enable the subscription before replaying to it")
    try:
        document = await _json_object(request, {"since", "event_ids"})
        if ("since" in document) == ("event_ids" in document):
            raise InvalidSubscription("give exactly one of 'since' (RFC 3339) or 'event_ids'")
        unknown: list[str] = []
        if "since" in document:
            event_ids = await _matching_since(deps, subscription, _document_time(document, "since"))
        else:
            event_ids, unknown = await _matching_ids(deps, subscription, document["event_ids"])
    except InvalidSubscription as exc:
        return error(400, "bad_request", str(exc))
    return await _queued_again(deps, subscription, event_ids, REPLAY, unknown)


@admin_only
async def recover(request: Request) -> Response:
    """Send again only this subscription's `failed` deliveries of events logged in [since, until]."""
    deps = _deps(request)
    subscription = await _load(request)
    if subscription is None:
        return _not_found()
    if not subscription.enabled:
        return error(409, "subscription_disabled", "enable the subscription before recovering its deliveries")
    try:
        document = await _json_object(request, {"since", "until"})
        if "since" not in document:
            raise InvalidSubscription("since (RFC 3339) is required")
        since = _document_time(document, "since")
        until = _document_time(document, "until") if document.get("until") is not None else None
        if until is not None and until < since:
            raise InvalidSubscription("until must not be before since")
    except InvalidSubscription as exc:
        return error(400, "bad_request", str(exc))
    in_window = await _matching_since(deps, subscription, since, until)
    failed = await deps.stores.deliveries.failed_among(subscription.id, in_window)
    return await _queued_again(deps, subscription, failed, RECOVER)


def _document_time(document: Mapping[str, Any], name: str) -> datetime:
    try:
        return parse_rfc3339(document[name])
    except ValueError as exc:
        raise InvalidSubscription(time_format(name)) from exc


async def _queued_again(
    deps: WebDeps, subscription: Subscription, event_ids: list[str], trigger: str, unknown: list[str] | None = None
) -> Response:
    """202 with how many were queued; for a replay by ids, which ids the log does not hold."""
    queued = await deps.stores.deliveries.requeue(subscription.id, event_ids, int(time.time() * 1000), trigger)
    oldest = await deps.stores.retention.oldest_kept_ms()
    # Events past RELAY_RETENTION have left the log: the answer says from when on they can be found.
    oldest_kept = None if oldest is None else format_time(datetime.fromtimestamp(oldest / 1000, UTC))
    body: dict[str, Any] = {"queued": queued, "oldest_kept": oldest_kept}
    if unknown is not None:
        body["unknown"] = unknown
    return JSON(body, status_code=202)


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
