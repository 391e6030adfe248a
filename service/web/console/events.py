"""The event log pages: the list (filtered, newest first, paged by cursor, with a live tail of newer events)
and one event with its body, its trace id and its delivery to each subscription."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from service.state.subscriptions import InvalidSubscription, validate_event_types
from service.tracing import trace_id_of
from service.web.console.guard import Visit, signed_in
from service.web.console.presenting import EventRow, event_row, pretty_json
from service.web.console.rendering import PATH, fragment

PAGE_SIZE = 50
#: Rows the live tail shows at most; past that the page says to reload.
TAIL_MAX = 100


def _filters(request: Request) -> dict[str, str]:
    query = request.query_params
    return {name: (query.get(name) or "").strip()[:200] for name in ("account", "type", "invoice")}


def _problem(filters: dict[str, str]) -> str | None:
    """What is wrong with the filters (shown above the list), if anything."""
    if filters["type"]:
        try:
            validate_event_types([filters["type"]])
        except InvalidSubscription:
            return f"unknown event type {filters['type']!r}"
    return None


async def _newest_first(
    visit: Visit, filters: dict[str, str], limit: int, *, before: str | None = None, after: str | None = None
) -> tuple[list[EventRow], str | None]:
    """The filtered log's rows newest first, between the cursors; and the cursor of older ones. `ValueError`
    for a cursor that is not one."""
    events, cursor = await visit.deps.stores.eventlog.newest_first(
        before=before,
        after=after,
        limit=limit,
        account=filters["account"] or None,
        event_type=filters["type"] or None,
        invoice=filters["invoice"] or None,
    )
    return [event_row(event) for event in events], cursor


@signed_in
async def events_page(request: Request, visit: Visit) -> Response:
    filters = _filters(request)
    problem = _problem(filters)
    before = request.query_params.get("before") or None
    rows: list[EventRow] = []
    older = None
    if problem is None:
        try:
            rows, cursor = await _newest_first(visit, filters, PAGE_SIZE, before=before)
        except ValueError:
            problem = "invalid cursor"
        else:
            older = None if cursor is None else f"{PATH}/events?{urlencode({**filters, 'before': cursor})}"
    # The first page is followed live: the tail shows what the log gets after its newest entry now (after
    # anything, on an empty log), whether or not that entry passes the filters.
    tail = ""
    if problem is None and before is None:
        newest = await visit.deps.stores.eventlog.newest_cursor()
        tail = f"{PATH}/fragments/events-tail?{urlencode({**filters, 'after': newest or ''})}"
    return visit.page(
        request,
        "events.html",
        filters=filters,
        accounts=sorted(visit.deps.settings.accounts),
        problem=problem,
        rows=rows,
        older=older,
        tail=tail,
    )


@signed_in
async def events_tail(request: Request, visit: Visit) -> Response:
    """Every event newer than `after` that passes the filters, newest first (at most TAIL_MAX): the page's
    tail, replaced whole at each poll."""
    filters = _filters(request)
    after = request.query_params.get("after") or None  # None: the log was empty, everything is new
    rows: list[EventRow] = []
    more = False
    if _problem(filters) is None:
        try:
            rows, cursor = await _newest_first(visit, filters, TAIL_MAX, after=after)
        except ValueError:
            cursor = None
        more = cursor is not None
    url = f"{PATH}/fragments/events-tail?{urlencode({**filters, 'after': after or ''})}"
    return fragment(request, "events_tail.html", {"tail_rows": rows, "tail": url, "more": more})


@signed_in
async def event_page(request: Request, visit: Visit) -> Response:
    deps = visit.deps
    event = await deps.stores.eventlog.get(request.path_params["event_id"])
    if event is None:
        return visit.page(request, "not_found.html", status=404, what="event")
    subscriptions = await deps.stores.subscriptions.all()
    records = await deps.stores.deliveries.of_event([s.id for s in subscriptions], event.event_id)
    deliveries = [(s, records[s.id]) for s in subscriptions if s.id in records]
    return visit.page(
        request,
        "event.html",
        row=event_row(event),
        body=pretty_json(event.body),
        trace_id=trace_id_of(event.trace) or "none",
        deliveries=deliveries,
    )
