"""`POST /webhooks/{account}`: the callback hot path. Parse, verify with `contracts`, one durable write.

A plain ASGI endpoint rather than a Starlette request/response function: profiled under load, the
`Request`/`Response` layers around a handler cost more CPU than the handler's own work (verifying a JWT
is ~12 us), and this path is measured against a bare Starlette endpoint. Routing, middleware and error
handling are Starlette's as for every other route.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson
import structlog
from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError
from starlette.types import Message, Receive, Scope, Send

from contracts.errors import CallbackError
from contracts.registry import provider_for
from contracts.standard_webhooks import TOLERANCE_SECONDS
from contracts.wire import CallbackHint, CallbackRequest
from service.metrics import CALLBACKS, UNKNOWN_ACCOUNT
from service.state.scheduling import SyncRequest
from service.tracing import TRACING, recording_traceparent
from service.web.deps import WebDeps

log = structlog.get_logger("relay.webhooks")

MAX_BODY_BYTES = 256 * 1024
#: A client still sending its body after this long is given up on (a slow client must not hold a request
#: open indefinitely; uvicorn itself has no body-read timeout).
BODY_TIMEOUT_S = 10.0
_JSON_HEADERS = [(b"content-type", b"application/json")]


class CallbackRefused(Exception):
    """A callback answered without queuing anything: the HTTP status (None when the client is gone and
    nothing can be answered), the error code and detail of the body, and the result it is counted under in
    `relay_callbacks_total`."""

    def __init__(self, status: int | None, code: str, result: str, detail: str | None = None) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.result = result
        self.detail = detail


class BodyTooLarge(CallbackRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "body_too_large", "too_large", f"the limit is {limit} bytes")


class BodyTimeout(CallbackRefused):
    def __init__(self) -> None:
        super().__init__(408, "body_timeout", "malformed", f"the body did not arrive within {BODY_TIMEOUT_S:g}s")


class ClientGone(CallbackRefused):
    """The client disconnected before its body arrived."""

    def __init__(self) -> None:
        super().__init__(None, "client_gone", "malformed")


def declared_too_large(headers: dict[str, str], limit: int) -> bool:
    declared = headers.get("content-length")
    if declared is None or not (declared.isascii() and declared.isdigit()):
        return False
    # int() refuses over 4300 digits (a ValueError, so a 500): a length that long is over the limit anyway.
    digits = declared.lstrip("0")
    return len(digits) > len(str(limit)) or int(digits or "0") > limit


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing more than `limit` bytes without reading them all, and giving up after
    BODY_TIMEOUT_S. One timer handle rather than `asyncio.timeout`: the same effect at a fraction of the
    cost (profiled: asyncio.timeout's set-up was ~8% of a callback's CPU time)."""
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(BODY_TIMEOUT_S, expire)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except asyncio.CancelledError:
        if expired and task.uncancel() == 0:
            raise BodyTimeout from None
        raise
    finally:
        timer.cancel()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def queue_sync(deps: WebDeps, account: str, hint: CallbackHint) -> bool:
    """Durably queue a sync (of the invoices the callback names, or the whole account); False for a notification
    id already received. A captured callback replayed inside the signature's tolerance window is acknowledged
    but queues nothing."""
    traced = recording_traceparent() if TRACING.on else ()
    request = SyncRequest(account, int(time.time() * 1000), hint.invoice_ids, traced)
    if hint.delivery_id is None:
        await deps.stores.triggers.request(request)
        return True
    return await deps.stores.schedule.request_once(request, hint.delivery_id[:200], 2 * TOLERANCE_SECONDS)


async def answer(
    send: Send, status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]] = _JSON_HEADERS
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


async def refuse(send: Send, refusal: CallbackRefused) -> None:
    if refusal.status is None:
        return
    body = {"error": refusal.code} if refusal.detail is None else {"error": refusal.code, "detail": refusal.detail}
    headers = [*_JSON_HEADERS, (b"retry-after", b"5")] if refusal.status == 503 else _JSON_HEADERS
    await answer(send, refusal.status, body, headers)


async def receive_callback(scope: Scope, receive: Receive, send: Send) -> None:
    deps: WebDeps = scope["app"].state.deps
    name = scope["path_params"]["account"]
    structlog.contextvars.bind_contextvars(account=name)
    if not TRACING.on:
        await handle_callback(deps, name, scope, receive, send)
        return
    with TRACING.tracer.start_as_current_span(
        "callback", kind=SpanKind.SERVER, attributes={"relay.account": name}
    ) as span:
        status, result = await handle_callback(deps, name, scope, receive, send)
        span.set_attribute("relay.callback.result", result)
        if status is not None:
            span.set_attribute("http.response.status_code", status)


async def handle_callback(
    deps: WebDeps, name: str, scope: Scope, receive: Receive, send: Send
) -> tuple[int | None, str]:
    """Answer one callback; (the status answered, None when the client left; the result it is counted under)."""
    try:
        queued = await accept(deps, name, scope, receive)
    except CallbackRefused as refusal:
        CALLBACKS.labels(name if name in deps.settings.accounts else UNKNOWN_ACCOUNT, refusal.result).inc()
        await refuse(send, refusal)
        return refusal.status, refusal.result
    if not queued:
        CALLBACKS.labels(name, "duplicate").inc()
        await answer(send, 200, {"status": "duplicate"})
        return 200, "duplicate"
    CALLBACKS.labels(name, "accepted").inc()
    await answer(send, 202, {"status": "accepted"})
    return 202, "accepted"


async def accept(deps: WebDeps, name: str, scope: Scope, receive: Receive) -> bool:
    """Read, verify and queue one callback: True once its sync is durably queued, False for a replay;
    `CallbackRefused` for anything else."""
    account = deps.settings.accounts.get(name)
    if account is None:
        raise CallbackRefused(404, "unknown_account", "unknown_account")
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    if declared_too_large(headers, MAX_BODY_BYTES):
        raise BodyTooLarge(MAX_BODY_BYTES)
    body = await read_body(receive)
    query_string = scope.get("query_string", b"")
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)) if query_string else {}
    try:
        hint = provider_for(account.provider).verify_callback(
            account, CallbackRequest(headers=headers, query=query, body=body), datetime.now(UTC)
        )
    except CallbackError as exc:
        log.info("callback_refused", status=exc.http_status, reason=str(exc))
        status = exc.http_status or 400
        raise CallbackRefused(status, "refused", "unauthorized" if status == 401 else "malformed", str(exc)) from exc
    except Exception as exc:  # whatever the input, never a 500: a verifier bug refuses the callback
        log.exception("callback_verifier_failed")
        raise CallbackRefused(400, "malformed", "malformed") from exc
    try:
        queued = await queue_sync(deps, name, hint)
    except RedisError as exc:
        log.warning("callback_not_queued", error=type(exc).__name__)
        raise CallbackRefused(503, "queue_unavailable", "unavailable") from exc
    log.debug("callback_accepted", invoice_ids=hint.invoice_ids)
    return queued


class CallbackEndpoint:
    """`receive_callback` as the route's ASGI app: Starlette wraps plain functions as request/response
    handlers, and calls an instance like this one directly."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive_callback(scope, receive, send)
