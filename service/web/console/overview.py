"""The overview (`/console`): accounts with a sync-now button, activity over the last hour, subscription health
and the newest events (refreshed live); and the sync-now action."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from service.state.per_minute import KINDS
from service.web.admin import request_syncs
from service.web.console.charts import bar_chart
from service.web.console.guard import Visit, signed_in
from service.web.console.presenting import EventRow, event_row, health
from service.web.console.rendering import PATH, fragment, redirect_with_flash
from service.web.deps import WebDeps

RECENT_EVENTS = 10
CHART_LABELS = {
    "callbacks": "Callbacks per minute",
    "syncs": "Syncs per minute",
    "events": "Events logged per minute",
    "deliveries": "Delivery attempts per minute",
}


async def _recent(deps: WebDeps) -> list[EventRow]:
    events, _ = await deps.stores.eventlog.newest_first(limit=RECENT_EVENTS)
    return [event_row(event) for event in events]


@signed_in
async def overview(request: Request, visit: Visit) -> Response:
    deps = visit.deps
    accounts = await deps.stores.states.describe(
        deps.settings.accounts[name] for name in sorted(deps.settings.accounts)
    )
    per_minute = await deps.stores.per_minute.last_hour(time.time())
    charts = [
        {"kind": kind, "label": CHART_LABELS[kind], "svg": bar_chart(per_minute[kind], CHART_LABELS[kind]),
         "total": sum(per_minute[kind]), "last": per_minute[kind][-1]}
        for kind in KINDS
    ]  # fmt: skip
    subscriptions = await deps.stores.subscriptions.all()
    figures = await deps.stores.deliveries.figures([s.id for s in subscriptions], int(time.time() * 1000))
    healths = [(s, health(s, f)) for s, f in zip(subscriptions, figures, strict=True)]
    return visit.page(
        request, "overview.html", accounts=accounts, charts=charts, healths=healths, recent=await _recent(deps)
    )


@signed_in
async def recent_events(request: Request, visit: Visit) -> Response:
    return fragment(request, "recent_events.html", {"recent": await _recent(visit.deps)})


@signed_in
async def sync_account(request: Request, visit: Visit) -> Response:
    name = request.path_params["account"]
    if name not in visit.deps.settings.accounts:
        return visit.page(request, "not_found.html", status=404, what="account")
    await request_syncs(visit.deps, [name])
    return redirect_with_flash(request, PATH, f"Sync requested for {name}.", key=visit.key)
