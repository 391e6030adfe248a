"""`GET /openapi.json`: a valid OpenAPI 3.1 document that describes every route, and a schemathesis run against it.

The schemathesis run drives the in-process app (real Valkey) with generated requests, valid and invalid, on
every documented operation, and checks that no answer is a server error and that every answer's status code,
content type, headers and body are the documented ones.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import hypothesis.strategies as st
import jsonschema
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from redis.asyncio import Redis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.routing import Route

from contracts.changes import detect_change
from contracts.model import Status
from contracts.standard_webhooks import new_secret, secret_key, signature_header
from service.state.deliveries import DELIVERED, DeliveryStore, Outcome
from service.state.subscriptions import SubscriptionStore, new_subscription
from service.web import openapi, subscription_actions, webhooks
from service.web.app import create_app, routes
from service.web.deps import WebDeps
from tests.service.conftest import ACCOUNTS, ADMIN, SP_WHSEC, make_settings
from tests.service.support import invoice, log_events

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item if method in METHODS}


def routed_operations(app_routes: list[Route]) -> set[tuple[str, str]]:
    """(path, method) of every route; HEAD only where it was asked for, not where Starlette adds it to GET."""
    found = set()
    for route in app_routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)  # "{id:int}" is "{id}" in OpenAPI
        for method in route.methods or ():
            if method == "HEAD" and "GET" in (route.methods or ()):
                continue
            found.add((path, method))
    return found


def test_every_route_is_documented_with_its_methods() -> None:
    routed = routed_operations(routes())
    documented = documented_operations(openapi.document())
    assert len(routed) == 19
    assert routed - documented == set(), "routes without documentation"
    assert documented - routed == set(), "documented operations that no route serves"


def test_the_comparison_sees_a_new_route_and_a_new_method() -> None:
    async def handler(request: Any) -> Any:
        raise NotImplementedError

    extended = [*routes(), Route("/things", handler, methods=["GET"]), Route("/healthz", handler, methods=["POST"])]
    missing = routed_operations(extended) - documented_operations(openapi.document())
    assert missing == {("/things", "GET"), ("/healthz", "POST")}


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema, as schemathesis ships it
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise AssertionError(f"components.schemas.{name}: {exc.message}") from exc


def test_an_invalid_document_is_refused_by_the_validation_used_above() -> None:
    document = openapi.document()
    document["paths"]["/sync"]["post"]["responses"]["202"]["content"]["application/json"]["schema"] = 5
    with pytest.raises(Exception, match="is not of types"):
        schemathesis.openapi.from_dict(document).validate()


def test_every_ref_resolves() -> None:
    document = openapi.document()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    assert refs
    for target in refs:
        assert target.startswith("#/components/schemas/"), target
        assert target.removeprefix("#/components/schemas/") in document["components"]["schemas"], target


def test_exactly_the_admin_only_handlers_are_documented_with_the_bearer_token() -> None:
    """Read from the handlers: `admin_only` wraps a handler (functools.wraps sets `__wrapped__`)."""
    document = openapi.document()
    schemes = document["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "adminToken": ("http", "bearer"),
        "callbackToken": ("http", "bearer"),
    }
    guarded = {route.path for route in routes() if hasattr(route.endpoint, "__wrapped__")}
    assert len(guarded) == 11
    for path, item in document["paths"].items():
        for method, op in item.items():
            if path in guarded:
                assert op["security"] == [{"adminToken": []}], (method, path)
                assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
            elif path == "/webhooks/{account}":
                assert op["security"] == [{}, {"callbackToken": []}]  # optional: only nudges carry it
            else:
                assert op["security"] == [], (method, path)
                assert "401" not in op["responses"], (method, path)


def test_spec_constraints_are_described() -> None:
    document = openapi.document()
    paths = document["paths"]
    for path in ("/webhooks/{account}", "/accounts/{account}/sync"):
        (param,) = [p for p in next(iter(paths[path].values()))["parameters"] if p["name"] == "account"]
        assert param["schema"]["pattern"] == "^[a-z0-9_-]{1,64}$"
    (limit,) = [p for p in paths["/events"]["get"]["parameters"] if p["name"] == "limit"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    (status,) = [
        p for p in paths["/subscriptions/{subscription_id}/deliveries"]["get"]["parameters"] if p["name"] == "status"
    ]
    assert status["schema"]["enum"] == ["pending", "delivered", "failed"]
    assert paths["/subscriptions"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewSubscription"
    }
    assert "secret" in document["components"]["schemas"]["NewSubscription"]["required"]
    assert "secret" not in document["components"]["schemas"]["Subscription"]["properties"]
    assert set(paths["/subscriptions/{subscription_id}"]["delete"]["responses"]) >= {"204", "404"}
    schemas = document["components"]["schemas"]
    assert schemas["SubscriptionCreate"]["required"] == ["url"]
    # The fields the handlers accept (any other is refused with 400), as described.
    assert set(schemas["SubscriptionCreate"]["properties"]) == subscription_actions.CREATE_FIELDS
    assert set(schemas["SubscriptionPatch"]["properties"]) == subscription_actions.PATCH_FIELDS
    assert [set(option["required"]) for option in schemas["Replay"]["oneOf"]] == [{"since"}, {"event_ids"}]
    assert schemas["Error"]["required"] == ["error"]


def test_the_event_schema_is_the_contracts_one_and_validates_a_logged_event() -> None:
    components = openapi.document()["components"]["schemas"]
    assert components["Event"]["properties"]["data"]["properties"]["invoice"] == {
        "$ref": "#/components/schemas/EventInvoice"
    }
    change = detect_change(None, invoice("shop", 1, Status.PAID), observed_at=datetime.now(UTC))
    assert change is not None
    assert change.event is not None
    event = orjson.loads(change.event.to_json())
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/Event", "components": {"schemas": components}}
    )
    validator.validate(event)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**event, "data": {**event["data"], "invoice": {**event["data"]["invoice"], "amount": 1.5}}})


#: Every answer README's "HTTP API" section names, by operation (operator calls also answer 401 and 503).
README_ANSWERS: dict[tuple[str, str], set[str]] = {
    ("/webhooks/{account}", "post"): {"202", "200", "400", "401", "404", "408", "413", "503"},
    ("/accounts/{account}/sync", "post"): {"202", "404"},
    ("/sync", "post"): {"202"},
    ("/accounts", "get"): {"200"},
    ("/events", "get"): {"200", "400"},
    ("/events/{event_id}", "get"): {"200", "404"},
    ("/subscriptions", "post"): {"201", "400", "409"},
    ("/subscriptions", "get"): {"200"},
    ("/subscriptions/{subscription_id}", "get"): {"200", "404"},
    ("/subscriptions/{subscription_id}", "patch"): {"200", "400", "404"},
    ("/subscriptions/{subscription_id}", "delete"): {"204", "404"},
    ("/subscriptions/{subscription_id}/rotate-secret", "post"): {"200", "404"},
    ("/subscriptions/{subscription_id}/deliveries", "get"): {"200", "400", "404"},
    ("/subscriptions/{subscription_id}/replay", "post"): {"202", "400", "404", "409"},
    ("/subscriptions/{subscription_id}/recover", "post"): {"202", "400", "404", "409"},
    ("/healthz", "get"): {"200"},
    ("/readyz", "get"): {"200", "503"},
    ("/metrics", "get"): {"200", "503"},
    ("/openapi.json", "get"): {"200"},
}


def body_validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def answer_schema(document: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path][method]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    return schema


def test_every_answer_the_readme_documents_is_described_with_its_body() -> None:
    document = openapi.document()
    assert set(README_ANSWERS) == {(path, method.lower()) for path, method in documented_operations(document)}
    for (path, method), statuses in README_ANSWERS.items():
        op = document["paths"][path][method]
        expected = statuses | ({"401", "503"} if op["security"] == [{"adminToken": []}] else set())
        assert expected <= set(op["responses"]), (path, method, expected - set(op["responses"]))
        for status in op["responses"]:
            if status.startswith(("4", "5")) and path != "/readyz":
                assert answer_schema(document, path, method, status) == {"$ref": "#/components/schemas/Error"}
    body_validator(document, {"$ref": "#/components/schemas/Error"}).validate({"error": "body_timeout", "detail": "x"})
    not_ready = body_validator(document, answer_schema(document, "/readyz", "get", "503"))
    for redis_state in ("down", "full"):
        not_ready.validate({"status": "unavailable", "redis": redis_state})


async def test_a_duplicate_callback_and_a_body_too_slow_answer_as_described(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two answers schemathesis cannot reach (it cannot sign a callback, nor send a body slowly)."""
    document = openapi.document()
    body = orjson.dumps({"id": "evt_1", "type": "invoice.success", "data": {"id": "inv-1"}})
    headers = {
        "webhook-id": "msg_twice",
        "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
        "webhook-signature": Webhook(SP_WHSEC).sign("msg_twice", datetime.now(UTC), body.decode()),
    }
    assert (await client.post("/webhooks/sp", content=body, headers=headers)).status_code == 202
    duplicate = await client.post("/webhooks/sp", content=body, headers=headers)
    assert duplicate.status_code == 200
    body_validator(document, answer_schema(document, "/webhooks/{account}", "post", "200")).validate(duplicate.json())

    monkeypatch.setattr(webhooks, "BODY_TIMEOUT_S", 0.2)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"token": '
        await asyncio.sleep(5)
        yield b'""}'

    slow = await client.post("/webhooks/shop", content=trickle())
    assert slow.status_code == 408
    body_validator(document, answer_schema(document, "/webhooks/{account}", "post", "408")).validate(slow.json())


def test_the_outgoing_event_is_described_under_webhooks() -> None:
    """OpenAPI 3.1 `webhooks`: the request the relay sends, checked against a real signed event."""
    document = openapi.document()
    (name,) = document["webhooks"]
    hook = document["webhooks"][name]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Event"}
    assert set(hook["responses"]) == {"2XX", "410", "default"}
    change = detect_change(None, invoice("shop", 1, Status.PAID), observed_at=datetime.now(UTC))
    assert change is not None
    assert change.event is not None
    event_body = change.event.to_json()
    body_validator(document, {"$ref": "#/components/schemas/Event"}).validate(orjson.loads(event_body))
    timestamp = int(datetime.now(UTC).timestamp())
    keys = [secret_key(new_secret()), secret_key(new_secret())]  # two while a rotated secret still signs
    sent = {
        "webhook-id": change.event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, change.event.id, timestamp, event_body),
    }
    params = {param["name"]: param for param in hook["parameters"]}
    assert set(params) == set(sent)
    for header, value in sent.items():
        assert params[header]["in"] == "header"
        assert params[header]["required"] is True
        assert re.fullmatch(params[header]["schema"]["pattern"], value), (header, value)


async def test_served_document_is_the_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi.document()


# The schemathesis run.


@dataclass(frozen=True)
class Seeded:
    subscription_id: str
    event_id: str


async def seed(redis: Redis) -> Seeded:
    """Logged events, a subscription and one delivery with an attempt, so that answers carry real rows."""
    now = datetime.now(UTC)
    changes = await log_events(redis, "shop", (Status.PENDING, Status.PAID, Status.EXPIRED))
    event_id = changes[1].change.event.id  # type: ignore[union-attr]
    subscription = new_subscription(
        url="https://subscriber.example/hook", event_types=("*",), accounts=("*",), description="seeded", now=now
    )
    await SubscriptionStore(redis).save(subscription)
    deliveries = DeliveryStore(redis)
    await deliveries.fan_out([(subscription.id, event_id)], int(now.timestamp() * 1000))
    attempt = {"at": "2026-11-22T10:00:00Z", "status_code": 200, "error": None, "latency_ms": 12.5}
    await deliveries.record(subscription.id, [Outcome(event_id, DELIVERED, None, attempt)])
    return Seeded(subscription.id, event_id)


@pytest.fixture
async def seeded(redis: Redis) -> Seeded:
    return await seed(redis)


def relay_app(redis_url: str) -> Starlette:
    """The app as `create_app` builds it, with `allow_private_urls=False`.

    Its lifespan does what the real one does for requests (`app.state.deps`), minus the process-wide logging
    set-up. schemathesis runs the lifespan on its own event loop thread, so the Redis pool lives on the loop
    that serves the requests and is closed there (`shutdown_lifespans`).
    """
    settings = replace(make_settings(redis_url), allow_private_urls=False)
    app = create_app(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.deps = WebDeps.build(settings)
        try:
            yield
        finally:
            await app.state.deps.close()

    app.router.lifespan_context = lifespan
    return app


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
#: The admin token for the bearer scheme the document declares, so that schemathesis knows it is the credential
#: (the `ignored_auth` check then also sends each operator call without it and with a wrong one).
CONFIG = schemathesis.Config.from_dict({"auth": {"openapi": {"adminToken": {"bearer": ADMIN}}}})
#: Examples per operation; raise it for a longer hunt (the default keeps the whole run well under a minute).
EXAMPLES = int(os.environ.get("RELAY_SCHEMATHESIS_EXAMPLES", "25"))
OPERATIONS = sorted(documented_operations(openapi.document()))


def case_strategy(operation: Any, seeded: Seeded) -> st.SearchStrategy[schemathesis.Case]:
    """Valid and invalid requests; where a path names an account, a subscription or an event, also with one that
    exists (generated names almost never do, and the handlers' work starts past the 404)."""
    known = {
        "account": sorted(ACCOUNTS["accounts"]),  # every provider's callback verifier gets generated input
        "subscription_id": [seeded.subscription_id],
        "event_id": [seeded.event_id],
    }
    names = [p.name for p in operation.path_parameters if p.name in known]
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if names:
            existing = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
            strategies.append(
                existing.flatmap(
                    lambda values, mode=mode: operation.as_strategy(generation_mode=mode, path_parameters=values)
                )
            )
    return st.one_of(strategies)


def exercise(api: Any, path: str, method: str, seeded: Seeded, examples: int = EXAMPLES) -> None:
    """Generated requests to one operation, each answer checked against the description; raises on a failure."""
    operation = api[path][method]

    @given(case=case_strategy(operation, seeded))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    finally:
        schemathesis_asgi.shutdown_lifespans()


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_conforms_to_its_description(redis_url: str, seeded: Seeded, path: str, method: str) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", relay_app(redis_url), config=CONFIG)
    exercise(api, path, method, seeded)


def test_the_run_fails_when_the_description_is_wrong(redis_url: str, seeded: Seeded) -> None:
    """The same run against a document that leaves out `GET /events/{event_id}`'s 404: the 404s are caught."""
    document = openapi.document()
    del document["paths"]["/events/{event_id}"]["get"]["responses"]["404"]
    api = schemathesis.openapi.from_dict(document, config=CONFIG)
    api.app = relay_app(redis_url)  # what `from_asgi` does after loading
    with pytest.raises(FailureGroup) as caught:
        exercise(api, "/events/{event_id}", "GET", seeded, examples=20)
    (failure,) = caught.value.exceptions
    assert isinstance(failure, UndefinedStatusCode)
    assert failure.status_code == 404


async def test_a_cursor_outside_the_stream_id_range_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Found while describing `GET /events`: Redis refused such a cursor, which answered 503 redis_unavailable."""
    for entry in (
        "18446744073709551616-0",
        "0-18446744073709551616",
        "18446744073709551615-18446744073709551615",
        "²-1",
    ):
        cursor = base64.urlsafe_b64encode(entry.encode()).decode().rstrip("=")
        response = await client.get("/events", params={"after": cursor}, headers=admin)
        assert response.status_code == 400, (entry, response.text)
        assert response.json() == {"error": "bad_request", "detail": "invalid cursor"}
    largest = base64.urlsafe_b64encode(b"18446744073709551615-18446744073709551614").decode().rstrip("=")
    response = await client.get("/events", params={"after": largest}, headers=admin)
    assert response.status_code == 200
    assert response.json() == {"events": [], "next": None}


async def test_replay_since_before_1970_replays_everything(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    """Found by the schemathesis run: a `since` before 1970 made a negative stream id, and a 503."""
    seeded = await seed(redis)
    for since in ("1900-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z"):
        response = await client.post(
            f"/subscriptions/{seeded.subscription_id}/replay", json={"since": since}, headers=admin
        )
        assert response.status_code == 202, (since, response.text)
        assert response.json()["queued"] == 3
