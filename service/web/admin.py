"""The operator API behind `Authorization: Bearer $RELAY_ADMIN_TOKEN`: triggers, accounts, the event log."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from service.state.eventlog import LoggedEvent
from service.state.scheduling import SyncRequest
from service.tracing import trace_id_of
from service.web.deps import WebDeps
from service.web.responses import JSON, error, raw_json

Handler = Callable[[Request], Awaitable[Response]]


def admin_only(handler: Handler) -> Handler:
    """401 unless the bearer token matches; with no token configured, every call is refused."""

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        deps = _deps(request)
        token = deps.settings.admin_token
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        if token is None:
            reason = "no_token_configured"
        elif scheme.lower() != "bearer" or not offered.strip():
            reason = "no_bearer_token"
        elif not hmac.compare_digest(offered.strip().encode(), token.encoded()):
            reason = "wrong_token"
        else:
            return await handler(request)
        client = request.client.host if request.client is not None else "unknown"
        deps.refusals.refused(client=client, method=request.method, path=request.url.path, reason=reason)
        return error(401, "unauthorized", headers={"www-authenticate": "Bearer"})

    return guarded


def _deps(request: Request) -> WebDeps:
    deps: WebDeps = request.app.state.deps
    return deps


async def request_syncs(deps: WebDeps, names: list[str]) -> None:
    """A full sync of each account, now (the API's triggers and the console's sync-now button)."""
    now_ms = int(time.time() * 1000)
    await deps.stores.schedule.request([SyncRequest(name, now_ms) for name in names])


@admin_only
async def trigger_account(request: Request) -> Response:
    deps = _deps(request)
    name = request.path_params["account"]
    if name not in deps.settings.accounts:
        return error(404, "unknown_account")
    await request_syncs(deps, [name])
    return JSON({"status": "accepted", "accounts": [name]}, status_code=202)


@admin_only
async def trigger_all(request: Request) -> Response:
    deps = _deps(request)
    names = sorted(deps.settings.accounts)
    await request_syncs(deps, names)
    return JSON({"status": "accepted", "accounts": names}, status_code=202)


@admin_only
async def list_accounts(request: Request) -> Response:
    deps = _deps(request)
    rows = await deps.stores.states.describe(deps.settings.accounts[name] for name in sorted(deps.settings.accounts))
    return JSON({"accounts": rows})


def parse_limit(text: str | None, default: int = 100) -> int:
    """A `limit` query parameter from 1 to 1000; `ValueError` otherwise."""
    if text is None or text == "":
        return default
    # isascii: "²" and other Unicode digits pass isdigit() but int() refuses or misreads them.
    if not (text.isascii() and text.isdigit()) or len(text) > 4 or not 1 <= int(text) <= 1000:
        raise ValueError("limit must be an integer from 1 to 1000")
    return int(text)


def _events_body(events: list[LoggedEvent], next_cursor: str | None) -> bytes:
    """Assembled from the logged bodies as stored: no parse and re-serialize per event."""
    tail = b"null" if next_cursor is None else b'"' + next_cursor.encode() + b'"'
    return b'{"events":[' + b",".join(event.body for event in events) + b'],"next":' + tail + b"}"


@admin_only
async def list_events(request: Request) -> Response:
    deps = _deps(request)
    params = request.query_params
    try:
        limit = parse_limit(params.get("limit"))
        events, next_cursor = await deps.stores.eventlog.page(
            after=params.get("after") or None,
            limit=limit,
            account=params.get("account") or None,
            event_type=params.get("type") or None,
        )
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    return raw_json(_events_body(events, next_cursor))


@admin_only
async def get_event(request: Request) -> Response:
    event = await _deps(request).stores.eventlog.get(request.path_params["event_id"])
    if event is None:
        return error(404, "unknown_event")
    response = raw_json(event.body)
    # The body is the event exactly as delivered; the trace it was recorded in (tracing on) rides beside it.
    trace_id = trace_id_of(event.trace)
    if trace_id is not None:
        response.headers["x-trace-id"] = trace_id
    return response
