"""`GET /openapi.json`: the OpenAPI 3.1 description of every endpoint.

Written by hand from the handlers (service/webhooks.py, service/admin.py, service/subscriptions_api.py,
service/health.py), built once. tests/service/test_openapi.py checks that every route of `service.web.app.routes()`
is described here and runs schemathesis against the app with it, so a handler and its description cannot
drift apart silently. The event envelope is the contract's own JSON Schema (contracts/schemas/event.schema.json).
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from contracts.account_file import ACCOUNT_NAME
from contracts.model import EVENT_TYPES, Status
from contracts.operational import OPERATIONAL_TYPES, OPERATIONAL_WILDCARD
from contracts.registry import PROVIDERS
from service.state.deliveries import RECOVER, REPLAY, SCHEDULED, STATUSES
from service.state.subscriptions import MAX_FILTERS, MAX_RATE_LIMIT, MAX_SUBSCRIPTIONS, ORDERINGS
from service.web.subscription_actions import MAX_REPLAY_IDS
from service.web.webhooks import BODY_TIMEOUT_S, MAX_BODY_BYTES

Schema = dict[str, Any]

VERSION = "0.1.0"
ACCOUNT_PATTERN = f"^{ACCOUNT_NAME.pattern}$"
SECURITY_SCHEME = "adminToken"
CALLBACK_SCHEME = "callbackToken"
#: Event-type filters a subscription accepts: every event type, `invoice.*` and `*`, every operational type and
#: `relay.*`.
EVENT_TYPE_FILTERS = ("*", "invoice.*", *EVENT_TYPES, OPERATIONAL_WILDCARD, *OPERATIONAL_TYPES)


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], *, required: tuple[str, ...] | None = None, closed: bool = True) -> Schema:
    """An object schema; every property is required unless `required` says otherwise."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else list(required),
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def respond(description: str, schema: Schema | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = json_content(schema)
    if headers:
        response["headers"] = headers
    return response


def failure(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response with the one error shape, `{"error": code, "detail"?: message}`."""
    return respond(description, ref("Error"), headers)


RETRY_AFTER = {"retry-after": {"description": "Seconds to wait before trying again.", "schema": {"type": "string"}}}
REDIS_DOWN = failure("`redis_unavailable`: Redis cannot be reached; try again later.", RETRY_AFTER)
UNAUTHORIZED = failure(
    "`unauthorized`: missing or wrong bearer token, or no `RELAY_ADMIN_TOKEN` configured.",
    {"www-authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
)
UNKNOWN_SUBSCRIPTION = failure("`unknown_subscription`: no subscription with this id.")


def query_param(name: str, description: str, schema: Schema | None = None, **extra: Any) -> dict[str, Any]:
    """An optional query parameter; the handlers read an empty value (`?limit=`) as an absent one."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "description": description + " Empty: as if absent.",
        "schema": schema or {"type": "string"},
        **extra,
    }


LIMIT = query_param(
    "limit", "How many rows at most.", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
)


def path_param(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


ACCOUNT_PARAM = path_param(
    "account",
    "An account name from the accounts file; any other name answers 404.",
    {"type": "string", "pattern": ACCOUNT_PATTERN},
)
SUBSCRIPTION_PARAM = path_param("subscription_id", "A subscription id (`sub_...`); an unknown one answers 404.")


def operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    tags: tuple[str, ...],
    parameters: list[dict[str, Any]] | None = None,
    body: Schema | None = None,
    body_content: dict[str, Any] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": list(tags)}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": json_content(body)}
    elif body_content is not None:
        op["requestBody"] = {"required": False, "content": body_content}
    op["responses"] = responses
    return op


def operator(operation_id: str, summary: str, responses: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """An operator API call: bearer token, and 401 / 503 besides its own answers."""
    op = operation(
        operation_id, summary, {**responses, "401": UNAUTHORIZED, "503": REDIS_DOWN}, tags=("operator",), **kwargs
    )
    op["security"] = [{SECURITY_SCHEME: []}]
    return op


def callback(operation_id: str, summary: str, responses: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A provider callback: no operator token; smsonline and ispcrm nudges may carry their `callback_token`."""
    op = operation(operation_id, summary, responses, tags=("public",), **kwargs)
    op["security"] = [{}, {CALLBACK_SCHEME: []}]
    return op


def public(operation_id: str, summary: str, responses: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    op = operation(operation_id, summary, responses, tags=("public",), **kwargs)
    op["security"] = []
    return op


def _event_schemas() -> dict[str, Schema]:
    """contracts/schemas/event.schema.json as component schemas: `Event`, and its `$defs` as `Event<Name>`."""
    text = resources.files("contracts").joinpath("schemas/event.schema.json").read_text(encoding="utf-8")
    source: Schema = json.loads(text)
    defs: dict[str, Schema] = source.pop("$defs", {})
    for key in ("$schema", "$id"):
        source.pop(key, None)
    names = {name: "Event" + "".join(part.capitalize() for part in name.split("_")) for name in defs}

    def relink(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    "#/components/schemas/" + names[value.removeprefix("#/$defs/")]
                    if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/")
                    else relink(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [relink(item) for item in node]
        return node

    schemas: dict[str, Schema] = {"Event": relink(source)}
    for name, definition in defs.items():
        schemas[names[name]] = relink(definition)
    return schemas


def _schemas() -> dict[str, Schema]:
    time = ref("EventTime")
    event_type_filters: Schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_FILTERS,
        "items": {"type": "string", "enum": list(EVENT_TYPE_FILTERS)},
        "description": "Event types to receive; `invoice.*` and `*` mean every invoice event. Operational events "
        '(`relay.*`) come only when named, exactly or as `relay.*`. Omitted or null: `["*"]`.',
    }
    account_filters: Schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_FILTERS,
        "items": {"type": "string", "pattern": r"^([a-z0-9_-]{1,64}|\*)$"},
        "description": "Configured account names, or `*` for all; an unknown name answers 400. "
        'Omitted or null: `["*"]`.',
    }
    target_url: Schema = {
        "type": "string",
        "format": "uri",
        "minLength": 1,
        "maxLength": 2048,
        "description": "An absolute http(s) URL without credentials. Unless RELAY_ALLOW_PRIVATE_URLS is true, "
        "every address its host resolves to must be public (not loopback, private, link-local or reserved).",
    }
    description: Schema = nullable({"type": "string", "maxLength": 1000})
    rate_limit: Schema = {
        **nullable({"type": "integer", "minimum": 1, "maximum": MAX_RATE_LIMIT}),
        "description": "At most this many delivery attempts a second to this subscription, across every worker "
        "(a burst of up to a tenth of that, at least one, is allowed). Null or omitted: no limit.",
    }
    ordering: Schema = {
        "enum": list(ORDERINGS),
        "description": "`invoice`: one invoice's events are sent one at a time, in `data.sequence` order (the next "
        "waits until the one before is delivered or has finally failed); other invoices are not held up. "
        "Omitted: `none`.",
    }
    subscription_fields: dict[str, Schema] = {
        "id": {"type": "string", "pattern": "^sub_[0-9a-f]+$"},
        "url": {"type": "string"},
        "event_types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPE_FILTERS)}},
        "accounts": {"type": "array", "items": {"type": "string"}},
        "enabled": {"type": "boolean"},
        "created_at": time,
        "description": nullable({"type": "string"}),
        "rate_limit": nullable({"type": "integer", "minimum": 1, "maximum": MAX_RATE_LIMIT}),
        "ordering": {"enum": list(ORDERINGS)},
    }
    secret: Schema = {
        "type": "string",
        "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$",
        "description": "The Standard Webhooks signing secret. Shown only in this answer.",
    }
    return {
        "Error": obj(
            {
                "error": {"type": "string", "description": "A stable, machine-readable code."},
                "detail": {"type": "string", "description": "A human-readable explanation (never a secret)."},
            },
            required=("error",),
        ),
        **_event_schemas(),
        "EventPage": obj(
            {
                "events": {"type": "array", "items": ref("Event")},
                "next": {
                    "type": ["string", "null"],
                    "description": "Pass as `after` for the next page; null at the end of the log.",
                },
            }
        ),
        "CallbackAccepted": obj({"status": {"const": "accepted"}}),
        "CallbackDuplicate": obj({"status": {"const": "duplicate"}}),
        "TriggerAccepted": obj(
            {"status": {"const": "accepted"}, "accounts": {"type": "array", "items": {"type": "string"}}}
        ),
        "Account": obj(
            {
                "name": {"type": "string", "pattern": ACCOUNT_PATTERN},
                "provider": {"type": "string", "enum": list(PROVIDERS)},
                "last_sync_at": {
                    **nullable(time),
                    "description": "When the last finished sync ended (success or not); null before the first.",
                },
                "last_sync_status": {"enum": ["ok", "auth_failed", "error", None]},
                "last_error": {"type": ["string", "null"], "description": "A message without secrets."},
                "invoices": {"type": "integer", "minimum": 0, "description": "Invoices known."},
                "skipped_records": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Malformed provider records skipped, in total.",
                },
                "poll_interval": {"type": "integer", "minimum": 0, "description": "Seconds; 0 = no scheduled syncs."},
                "last_read": {
                    "enum": ["full", "narrow", None],
                    "description": "The last finished sync's read: the provider's list (full), or just the invoices "
                    "callbacks named (narrow); null before the first.",
                },
            }
        ),
        "AccountList": obj({"accounts": {"type": "array", "items": ref("Account")}}),
        "SubscriptionCreate": obj(
            {
                "url": target_url,
                "event_types": nullable(event_type_filters),
                "accounts": nullable(account_filters),
                "description": description,
                "rate_limit": rate_limit,
                "ordering": ordering,
            },
            required=("url",),
        ),
        "SubscriptionPatch": obj(
            {
                "url": target_url,
                "event_types": nullable(event_type_filters),
                "accounts": nullable(account_filters),
                "enabled": {
                    "type": "boolean",
                    "description": "false disables the subscription: its queued deliveries become `failed`.",
                },
                "description": description,
                "rate_limit": rate_limit,
                "ordering": {
                    **ordering,
                    "description": ordering["description"] + " Changed to `none`, deliveries waiting for an "
                    "earlier one of their invoice go at once.",
                },
            },
            required=(),
        ),
        "Subscription": obj(subscription_fields),
        "NewSubscription": obj({**subscription_fields, "secret": secret}),
        "RotatedSecret": obj(
            {
                "id": subscription_fields["id"],
                "secret": secret,
                "previous_secret_expires_at": {
                    **nullable(time),
                    "description": "Until then the previous secret keeps signing beside the new one.",
                },
            }
        ),
        "SubscriptionList": obj({"subscriptions": {"type": "array", "items": ref("Subscription")}}),
        "Attempt": obj(
            {
                "at": {"type": "string", "description": "When the attempt started (RFC 3339)."},
                "status_code": {"type": ["integer", "null"], "description": "null when no answer came."},
                "error": {"type": ["string", "null"]},
                "latency_ms": {"type": "number", "minimum": 0},
                "response": {
                    "type": ["string", "null"],
                    "description": "The first 1 KiB of the subscriber's answer body, as text; null when no answer "
                    "came. A signing secret the subscriber echoes is shown as `[redacted]`.",
                },
                "trigger": {
                    "type": "string",
                    "enum": [SCHEDULED, REPLAY, RECOVER],
                    "description": "What started this round of attempts: the event itself, a replay, or a recover.",
                },
            },
            # Attempts recorded by earlier versions have neither `response` nor `trigger`.
            required=("at", "status_code", "error", "latency_ms"),
            closed=False,
        ),
        "Delivery": obj(
            {
                "event_id": {"type": "string"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "attempts": {"type": "array", "items": ref("Attempt")},
            }
        ),
        "DeliveryList": obj({"deliveries": {"type": "array", "items": ref("Delivery")}}),
        "Recover": obj(
            {
                "since": {"type": "string", "format": "date-time", "description": "RFC 3339."},
                "until": {
                    **nullable({"type": "string", "format": "date-time"}),
                    "description": "RFC 3339; omitted: now.",
                },
            },
            required=("since",),
        ),
        "Replay": {
            "description": "Exactly one of `since` or `event_ids`.",
            "oneOf": [
                obj(
                    {
                        "since": {
                            "type": "string",
                            "format": "date-time",
                            "description": "RFC 3339, with its offset (`Z` or `+hh:mm`): a time without one is 400.",
                        }
                    }
                ),
                obj(
                    {
                        "event_ids": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_REPLAY_IDS,
                            "items": {"type": "string"},
                        }
                    }
                ),
            ],
        },
        "Queued": obj(
            {
                "queued": {"type": "integer", "minimum": 0},
                "unknown": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "A replay's: the requested `event_ids` the log does not hold (never logged, or "
                    "past RELAY_RETENTION), each once; empty for `since`.",
                },
                "oldest_kept": {
                    **nullable(time),
                    "description": "When the oldest event still in the log was recorded (older ones have left it, "
                    "RELAY_RETENTION); null when the log is empty.",
                },
            },
            required=("queued", "oldest_kept"),  # `unknown`: a replay's answer only
        ),
        "Health": obj({"status": {"const": "ok"}}),
        "Ready": obj({"status": {"const": "ready"}}),
        "NotReady": obj(
            {
                "status": {"const": "unavailable"},
                "redis": {
                    "enum": ["down", "full"],
                    "description": "`down`: Redis does not answer; `full`: it refuses writes (maxmemory reached).",
                },
            }
        ),
    }


def _paths() -> dict[str, Any]:
    def header(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string"},
        }

    webhook_params = [
        ACCOUNT_PARAM,
        {
            "name": "token",
            "in": "query",
            "required": False,
            "description": "smsonline, ispcrm: the account's `callback_token` (or send it as a bearer token).",
            "schema": {"type": "string"},
        },
        header("webhook-id", "simplepay (Standard Webhooks): the message id."),
        header("webhook-timestamp", "simplepay (Standard Webhooks): unix seconds, within 300 s of now."),
        header("webhook-signature", "simplepay (Standard Webhooks): `v1,<base64>` signatures with `webhook_secret`."),
        header("X-Signature", "simplepay: hex HMAC-SHA256 of the raw body with the account's `api_key`."),
    ]
    return {
        "/webhooks/{account}": {
            "post": callback(
                "receiveCallback",
                "A provider callback: a hint to sync the account now",
                {
                    "202": respond("A sync of the account is durably queued.", ref("CallbackAccepted")),
                    "200": respond(
                        "A Standard Webhooks `webhook-id` already received within the signature's tolerance "
                        "window (a provider's retry, or a captured callback replayed): acknowledged, nothing queued.",
                        ref("CallbackDuplicate"),
                    ),
                    "400": failure("`refused`, `malformed` or `incomplete_body`: the callback cannot be read."),
                    "401": failure("`refused`: bad or missing signature or token; nothing is queued."),
                    "404": failure("`unknown_account`."),
                    "408": failure(
                        f"`body_timeout`: the body was still arriving after {BODY_TIMEOUT_S:g} s; nothing is queued."
                    ),
                    "413": failure(f"`body_too_large`: the body is over {MAX_BODY_BYTES} bytes."),
                    "503": failure(
                        "`queue_unavailable` / `redis_unavailable`: the sync cannot be queued; retry.", RETRY_AFTER
                    ),
                },
                parameters=webhook_params,
                body_content={
                    "application/json": {"schema": {}},
                    "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                },
                description="The body is never trusted for invoice state: the relay reads the provider's list "
                "endpoint. Authentication depends on the provider: cryptocloud a JWT (HS256, `secret_key`) in the "
                "body's `token`; simplepay Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, "
                "`webhook-signature`, verified with `webhook_secret`) or `X-Signature` (hex HMAC-SHA256 of the raw "
                "body with `api_key`); smsonline and ispcrm `Authorization: Bearer <callback_token>` or "
                "`?token=<callback_token>`.",
            )
        },
        "/accounts/{account}/sync": {
            "post": operator(
                "syncAccount",
                "Queue a sync of one account",
                {
                    "202": respond("The sync is queued.", ref("TriggerAccepted")),
                    "404": failure("`unknown_account`."),
                },
                parameters=[ACCOUNT_PARAM],
            )
        },
        "/sync": {
            "post": operator(
                "syncAll",
                "Queue a sync of every account",
                {"202": respond("The syncs are queued.", ref("TriggerAccepted"))},
            )
        },
        "/accounts": {
            "get": operator(
                "listAccounts",
                "Every configured account and its last sync",
                {"200": respond("The accounts, by name.", ref("AccountList"))},
            )
        },
        "/events": {
            "get": operator(
                "listEvents",
                "The event log, oldest first",
                {
                    "200": respond("One page of events.", ref("EventPage")),
                    "400": failure("`bad_request`: `limit` out of range or an invalid `after` cursor."),
                },
                parameters=[
                    query_param("account", "Only this account's events."),
                    query_param(
                        "type",
                        "Only events of this type; `invoice.*` and `*` match every type.",
                        examples={"paid": {"value": "invoice.paid"}},
                    ),
                    query_param("after", "The opaque cursor of the previous page's `next`."),
                    LIMIT,
                ],
            )
        },
        "/events/{event_id}": {
            "get": operator(
                "getEvent",
                "One logged event",
                {
                    "200": respond("The event as logged and delivered.", ref("Event")),
                    "404": failure("`unknown_event`."),
                },
                parameters=[path_param("event_id", "An event id (`evt_...`).")],
            )
        },
        "/subscriptions": {
            "post": operator(
                "createSubscription",
                "Subscribe a URL to events",
                {
                    "201": respond(
                        "The subscription, with its signing secret (shown only here).", ref("NewSubscription")
                    ),
                    "400": failure("`invalid_subscription`: the detail names the field at fault."),
                    "409": failure(
                        f"`too_many_subscriptions`: the relay already holds {MAX_SUBSCRIPTIONS}, its documented maximum."
                    ),
                },
                body=ref("SubscriptionCreate"),
            ),
            "get": operator(
                "listSubscriptions",
                "Every subscription (no secrets), oldest first",
                {"200": respond("The subscriptions.", ref("SubscriptionList"))},
            ),
        },
        "/subscriptions/{subscription_id}": {
            "get": operator(
                "getSubscription",
                "One subscription (no secrets)",
                {"200": respond("The subscription.", ref("Subscription")), "404": UNKNOWN_SUBSCRIPTION},
                parameters=[SUBSCRIPTION_PARAM],
            ),
            "patch": operator(
                "updateSubscription",
                "Change a subscription's URL, filters, description or enabled flag",
                {
                    "200": respond("The subscription as changed.", ref("Subscription")),
                    "400": failure("`invalid_subscription`: the detail names the field at fault."),
                    "404": UNKNOWN_SUBSCRIPTION,
                },
                parameters=[SUBSCRIPTION_PARAM],
                body=ref("SubscriptionPatch"),
            ),
            "delete": operator(
                "deleteSubscription",
                "Delete a subscription and its delivery records",
                {"204": respond("Deleted."), "404": UNKNOWN_SUBSCRIPTION},
                parameters=[SUBSCRIPTION_PARAM],
            ),
        },
        "/subscriptions/{subscription_id}/rotate-secret": {
            "post": operator(
                "rotateSecret",
                "A new signing secret; the previous one keeps signing beside it for 24 h",
                {
                    "200": respond("The new secret (shown only here).", ref("RotatedSecret")),
                    "404": UNKNOWN_SUBSCRIPTION,
                },
                parameters=[SUBSCRIPTION_PARAM],
            )
        },
        "/subscriptions/{subscription_id}/deliveries": {
            "get": operator(
                "listDeliveries",
                "Deliveries to this subscription, newest first",
                {
                    "200": respond("One row per event sent to this subscription.", ref("DeliveryList")),
                    "400": failure(
                        "`bad_request`: unknown `status` or `type`, a time that is not RFC 3339, or `limit` out of "
                        "range."
                    ),
                    "404": UNKNOWN_SUBSCRIPTION,
                },
                parameters=[
                    SUBSCRIPTION_PARAM,
                    query_param(
                        "status",
                        "Only deliveries in this status. `failed` = given up after the last attempt, or the "
                        "subscription was disabled.",
                        {"type": "string", "enum": list(STATUSES)},
                    ),
                    query_param(
                        "since", "Only deliveries queued (made, replayed or recovered) at or after (RFC 3339)."
                    ),
                    query_param("until", "Only deliveries queued at or before (RFC 3339)."),
                    query_param(
                        "type",
                        "Only deliveries of events of this type (`invoice.*`, `relay.*` and `*` as in the event log).",
                    ),
                    LIMIT,
                ],
            )
        },
        "/subscriptions/{subscription_id}/replay": {
            "post": operator(
                "replay",
                "Queue logged events again to this subscription",
                {
                    "202": respond(
                        "How many deliveries were queued, and from when on the log still holds events.", ref("Queued")
                    ),
                    "400": failure("`bad_request`: give exactly one of `since` or `event_ids`."),
                    "404": UNKNOWN_SUBSCRIPTION,
                    "409": failure("`subscription_disabled`: enable the subscription first."),
                },
                parameters=[SUBSCRIPTION_PARAM],
                body=ref("Replay"),
                description="The matching logged events (the subscription's filters still apply) are queued as new "
                "deliveries with the same event ids. Event ids the log does not hold are listed in `unknown`.",
            )
        },
        "/subscriptions/{subscription_id}/recover": {
            "post": operator(
                "recover",
                "Send again only this subscription's failed deliveries of events logged in a window",
                {
                    "202": respond(
                        "How many deliveries were queued, and from when on the log still holds events.", ref("Queued")
                    ),
                    "400": failure("`bad_request`: `since` missing, or a time without its offset or not RFC 3339."),
                    "404": UNKNOWN_SUBSCRIPTION,
                    "409": failure("`subscription_disabled`: enable the subscription first."),
                },
                parameters=[SUBSCRIPTION_PARAM],
                body=ref("Recover"),
                description="Deliveries that succeeded or are still pending are left alone. Attempts of the recovered "
                "deliveries record `trigger: recover`.",
            )
        },
        "/healthz": {
            "get": public("healthz", "The process is alive", {"200": respond("Alive.", ref("Health"))}),
        },
        "/readyz": {
            "get": public(
                "readyz",
                "Ready when Redis answers",
                {
                    "200": respond("Ready.", ref("Ready")),
                    "503": respond("Redis does not answer, or is full.", ref("NotReady")),
                },
            ),
        },
        "/metrics": {
            "get": public(
                "metrics",
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": REDIS_DOWN,
                },
            ),
        },
        "/openapi.json": {
            "get": public(
                "openapi", "This document", {"200": respond("The OpenAPI 3.1 document.", {"type": "object"})}
            ),
        },
    }


def _webhooks() -> dict[str, Any]:
    """What the relay sends to each subscription: OpenAPI 3.1's `webhooks`, the requests the API makes."""

    def header(name: str, description: str, pattern: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "header",
            "required": True,
            "description": description,
            "schema": {"type": "string", "pattern": pattern},
        }

    return {
        "invoiceEvent": {
            "post": {
                "operationId": "invoiceEvent",
                "summary": "An invoice event, sent to the URL of every enabled subscription that matches it",
                "description": "Signed as Standard Webhooks specifies: verify `webhook-signature` with the "
                "subscription's secret before trusting the body. Delivered at least once: dedupe on `webhook-id`. "
                "Redirects are not followed.",
                "tags": ["subscriber"],
                "security": [],
                "parameters": [
                    header(
                        "webhook-id",
                        "The event id: the same on every retry and replay.",
                        "^evt_[a-z0-9]+$",
                    ),
                    header("webhook-timestamp", "Unix seconds when this attempt was signed.", "^[0-9]+$"),
                    header(
                        "webhook-signature",
                        'Space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret '
                        "(two while a rotated secret still signs).",
                        r"^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$",
                    ),
                ],
                "requestBody": {"required": True, "content": json_content(ref("Event"))},
                "responses": {
                    "2XX": respond("Delivered: any 2xx within RELAY_DELIVERY_TIMEOUT ends the delivery."),
                    "410": respond("Gone: the relay disables the subscription."),
                    "default": respond(
                        "Anything else, or no answer within RELAY_DELIVERY_TIMEOUT: tried again on "
                        "RELAY_RETRY_SCHEDULE (`Retry-After` honoured), then `failed` (replayable)."
                    ),
                },
            }
        }
    }


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "invoice-relay",
            "version": VERSION,
            "description": "Watches invoices at payment providers and delivers normalized, signed invoice events "
            'to HTTP subscribers. Errors share one shape: `{"error": code, "detail"?: message}`. Any call '
            "that touches Redis answers 503 `redis_unavailable` while Redis cannot be reached. Invoice statuses: "
            + ", ".join(status.value for status in Status)
            + ".",
        },
        "tags": [
            {"name": "operator", "description": "Needs `Authorization: Bearer $RELAY_ADMIN_TOKEN`."},
            {"name": "public", "description": "Provider callbacks, health, metrics."},
            {"name": "subscriber", "description": "What the relay sends to subscribers (under `webhooks`)."},
        ],
        "paths": _paths(),
        "webhooks": _webhooks(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                CALLBACK_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "smsonline, ispcrm: the account's `callback_token` (or `?token=`).",
                },
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of RELAY_ADMIN_TOKEN. With none configured every call answers 401.",
                },
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())


@functools.cache
def _rendered() -> bytes:
    return orjson.dumps(_document())


async def openapi_json(request: Request) -> Response:
    return Response(_rendered(), media_type="application/json")
