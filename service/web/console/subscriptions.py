"""The subscription pages: the list, create (the secret shown once), one subscription with its deliveries, and
its actions (edit, enable or disable, rotate the secret, delete, replay, recover). Every rule is
`service.web.subscription_actions`'s, as for the JSON API."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from service.state.deliveries import STATUSES
from service.state.subscriptions import InvalidSubscription, Subscription
from service.web import subscription_actions as actions
from service.web.console.forms import recover_document, replay_document, subscription_document
from service.web.console.guard import Visit, signed_in
from service.web.console.presenting import health
from service.web.console.rendering import PATH, redirect_with_flash

LIST = PATH + "/subscriptions"
DELIVERIES_SHOWN = 50
CREATE_FIELDS = ("url", "event_types", "accounts", "description", "rate_limit", "ordering")
EDIT_FIELDS = ("url", "event_types", "accounts", "description")


def _page_of(subscription_id: str) -> str:
    return f"{LIST}/{subscription_id}"


def _not_found(request: Request, visit: Visit) -> Response:
    return visit.page(request, "not_found.html", status=404, what="subscription")


SubscriptionHandler = Callable[[Request, Visit, Subscription], Awaitable[Response]]


def existing(handler: SubscriptionHandler) -> Callable[[Request], Awaitable[Response]]:
    """Signed in, and the subscription in the path exists (404 otherwise)."""

    @signed_in
    async def found(request: Request, visit: Visit) -> Response:
        subscription = await visit.deps.stores.subscriptions.get(request.path_params["subscription_id"])
        if subscription is None:
            return _not_found(request, visit)
        return await handler(request, visit, subscription)

    return found


@signed_in
async def list_page(request: Request, visit: Visit) -> Response:
    subscriptions = await visit.deps.stores.subscriptions.all()
    figures = await visit.deps.stores.deliveries.figures([s.id for s in subscriptions], int(time.time() * 1000))
    rows = [(s, health(s, f)) for s, f in zip(subscriptions, figures, strict=True)]
    return visit.page(request, "subscriptions.html", rows=rows)


def _create_form(request: Request, visit: Visit, values: dict[str, str], error: str | None = None) -> Response:
    status = 200 if error is None else 400
    accounts = sorted(visit.deps.settings.accounts)
    return visit.page(request, "subscription_new.html", status=status, values=values, error=error, accounts=accounts)


@signed_in
async def new_page(request: Request, visit: Visit) -> Response:
    return _create_form(request, visit, {"ordering": "none"})


@signed_in
async def create(request: Request, visit: Visit) -> Response:
    form = await request.form()
    typed = {name: str(form.get(name) or "") for name in CREATE_FIELDS}
    try:
        subscription = await actions.create(visit.deps, subscription_document(form, CREATE_FIELDS))
    except (InvalidSubscription, actions.TooManySubscriptions) as exc:
        return _create_form(request, visit, typed, str(exc))
    # Shown on this answer only (a redirect would have to carry it in a URL or a cookie).
    return visit.page(
        request, "secret.html", subscription=subscription, secret=subscription.secrets[0].secret, new=True
    )


@existing
async def subscription_page(request: Request, visit: Visit, subscription: Subscription) -> Response:
    status = request.query_params.get("status") or None
    if status not in STATUSES:
        status = None
    deliveries = await visit.deps.stores.deliveries.list(subscription.id, status=status, limit=DELIVERIES_SHOWN)
    figures = await visit.deps.stores.deliveries.figures([subscription.id], int(time.time() * 1000))
    return visit.page(
        request,
        "subscription.html",
        subscription=subscription,
        health=health(subscription, figures[0]),
        deliveries=deliveries,
        status_filter=status or "",
        statuses=STATUSES,
    )


async def _changed(request: Request, visit: Visit, subscription: Subscription, document: dict[str, Any]) -> Response:
    back = _page_of(subscription.id)
    try:
        updated = await actions.change(visit.deps, subscription.id, document)
    except InvalidSubscription as exc:
        return redirect_with_flash(request, back, str(exc), key=visit.key, error=True)
    if updated is None:
        return _not_found(request, visit)
    return redirect_with_flash(request, back, "Subscription saved.", key=visit.key)


@existing
async def edit(request: Request, visit: Visit, subscription: Subscription) -> Response:
    document = subscription_document(await request.form(), EDIT_FIELDS)
    return await _changed(request, visit, subscription, document)


@existing
async def enable(request: Request, visit: Visit, subscription: Subscription) -> Response:
    return await _changed(request, visit, subscription, {"enabled": True})


@existing
async def disable(request: Request, visit: Visit, subscription: Subscription) -> Response:
    return await _changed(request, visit, subscription, {"enabled": False})


@existing
async def rotate_secret(request: Request, visit: Visit, subscription: Subscription) -> Response:
    updated = await actions.rotate_secret(visit.deps, subscription.id)
    if updated is None:
        return _not_found(request, visit)
    previous = updated.secrets[1].expires_at
    return visit.page(
        request, "secret.html", subscription=updated, secret=updated.secrets[0].secret, new=False, previous=previous
    )


@existing
async def delete_page(request: Request, visit: Visit, subscription: Subscription) -> Response:
    return visit.page(request, "subscription_delete.html", subscription=subscription)


@signed_in
async def delete(request: Request, visit: Visit) -> Response:
    subscription_id = request.path_params["subscription_id"]
    if not await actions.delete(visit.deps, subscription_id):
        return _not_found(request, visit)
    return redirect_with_flash(request, LIST, f"Subscription {subscription_id} deleted.", key=visit.key)


async def _requeued(
    request: Request,
    visit: Visit,
    subscription: Subscription,
    action: actions.RequeueAction,
    read: Callable[[FormData], dict[str, Any]],
) -> Response:
    form = await request.form()
    back = _page_of(subscription.id)

    async def document() -> dict[str, Any]:
        return read(form)

    try:
        requeued = await action(visit.deps, subscription, document)
    except (actions.SubscriptionDisabled, InvalidSubscription) as exc:
        return redirect_with_flash(request, back, str(exc), key=visit.key, error=True)
    unknown = f"; not in the log: {', '.join(requeued.unknown)}" if requeued.unknown else ""
    count = "1 delivery" if requeued.queued == 1 else f"{requeued.queued} deliveries"
    return redirect_with_flash(request, back, f"Queued {count} again{unknown}.", key=visit.key)


@existing
async def replay(request: Request, visit: Visit, subscription: Subscription) -> Response:
    return await _requeued(request, visit, subscription, actions.replay, replay_document)


@existing
async def recover(request: Request, visit: Visit, subscription: Subscription) -> Response:
    return await _requeued(request, visit, subscription, actions.recover, recover_document)
