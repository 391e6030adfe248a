"""`/subscriptions`: create, list, get, patch, delete, rotate the secret, list deliveries, replay, recover.

The rules live in `service.web.subscription_actions` (shared with the console); this module turns JSON bodies
into its documents and its outcomes into JSON answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from contracts.times import format_time, parse_rfc3339
from service.state.deliveries import STATUSES
from service.state.subscriptions import InvalidSubscription, Subscription, validate_event_types
from service.web import subscription_actions as actions
from service.web.admin import admin_only, parse_limit
from service.web.deps import WebDeps
from service.web.responses import JSON, error


def _deps(request: Request) -> WebDeps:
    deps: WebDeps = request.app.state.deps
    return deps


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        document = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidSubscription("the body must be a JSON object") from exc
    if not isinstance(document, dict):
        raise InvalidSubscription("the body must be a JSON object")
    return document


async def _load(request: Request) -> Subscription | None:
    return await _deps(request).stores.subscriptions.get(request.path_params["subscription_id"])


def _not_found() -> Response:
    return error(404, "unknown_subscription")


@admin_only
async def create(request: Request) -> Response:
    try:
        subscription = await actions.create(_deps(request), await _json_object(request))
    except InvalidSubscription as exc:
        return error(400, "invalid_subscription", str(exc))
    except actions.TooManySubscriptions as exc:
        return error(409, "too_many_subscriptions", str(exc))
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
    subscription = await _load(request)
    if subscription is None:
        return _not_found()
    try:
        updated = await actions.change(_deps(request), subscription.id, await _json_object(request))
    except InvalidSubscription as exc:
        return error(400, "invalid_subscription", str(exc))
    return _not_found() if updated is None else JSON(updated.public())


@admin_only
async def delete(request: Request) -> Response:
    if not await actions.delete(_deps(request), request.path_params["subscription_id"]):
        return _not_found()
    return Response(status_code=204)


@admin_only
async def rotate_secret(request: Request) -> Response:
    updated = await actions.rotate_secret(_deps(request), request.path_params["subscription_id"])
    if updated is None:
        return _not_found()
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
        raise ValueError(actions.time_format(name)) from exc


@admin_only
async def replay(request: Request) -> Response:
    return await _requeue(request, actions.replay)


@admin_only
async def recover(request: Request) -> Response:
    """Send again only this subscription's `failed` deliveries of events logged in [since, until]."""
    return await _requeue(request, actions.recover)


async def _requeue(request: Request, action: actions.RequeueAction) -> Response:
    """202 with how many were queued; for a replay by ids, which ids the log does not hold."""
    subscription = await _load(request)
    if subscription is None:
        return _not_found()
    try:
        requeued = await action(_deps(request), subscription, lambda: _json_object(request))
    except actions.SubscriptionDisabled as exc:
        return error(409, "subscription_disabled", str(exc))
    except InvalidSubscription as exc:
        return error(400, "bad_request", str(exc))
    oldest = requeued.oldest_kept_ms
    oldest_kept = None if oldest is None else format_time(datetime.fromtimestamp(oldest / 1000, UTC))
    body: dict[str, Any] = {"queued": requeued.queued, "oldest_kept": oldest_kept}
    if requeued.unknown is not None:
        body["unknown"] = requeued.unknown
    return JSON(body, status_code=202)
