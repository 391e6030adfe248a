"""Operational event bodies: their published schema, deterministic ids, and the types' names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from contracts.operational import (
    OPERATIONAL_TYPES,
    OperationalEvent,
    delivery_exhausted,
    is_operational,
    subscription_disabled,
    sync_failing,
    sync_recovered,
)

SCHEMA: dict[str, Any] = json.loads(files("contracts").joinpath("schemas/operational-event.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
AT = datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=UTC)
SINCE = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)

EXAMPLES = [
    subscription_disabled(
        subscription_id="sub_1", url="https://example.com/h", reason="gone", failing_since=None, disabled_at=AT
    ),
    subscription_disabled(
        subscription_id="sub_1", url="https://example.com/h", reason="failing", failing_since=SINCE, disabled_at=LATER
    ),
    delivery_exhausted(
        subscription_id="sub_1",
        event_id="evt_abc",
        event_type="invoice.paid",
        attempts=8,
        last_attempt={"at": "2026-12-01T10:00:00Z", "status_code": 500, "error": "HTTP 500", "latency_ms": 3.1},
        at=AT,
    ),
    sync_failing(account="shop", status="auth_failed", error="the provider refused the API key", since=AT),
    sync_recovered(account="shop", failing_since=SINCE, at=AT),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_every_operational_event_passes_its_published_schema(event: OperationalEvent) -> None:
    document = json.loads(event.to_json())
    assert [e.message for e in VALIDATOR.iter_errors(document)] == []
    assert list(document) == ["id", "type", "timestamp", "data"]


def test_the_schema_refuses_a_wrong_body() -> None:
    document = json.loads(EXAMPLES[0].to_json())
    document["data"]["reason"] = "bored"
    assert list(VALIDATOR.iter_errors(document))
    document = json.loads(EXAMPLES[2].to_json())
    document["data"]["last_attempt"]["latency_ms"] = 1
    assert list(VALIDATOR.iter_errors(document))


def test_the_same_occurrence_gets_the_same_id_whoever_notices_it() -> None:
    again = sync_failing(account="shop", status="auth_failed", error="another wording", since=AT)
    assert again.id == EXAMPLES[3].id
    later = sync_failing(account="shop", status="auth_failed", error=None, since=SINCE)
    assert later.id != EXAMPLES[3].id
    assert len({e.id for e in EXAMPLES}) == len(EXAMPLES)


def test_operational_types_are_told_apart_from_invoice_types() -> None:
    assert all(is_operational(t) for t in OPERATIONAL_TYPES)
    assert not is_operational("invoice.paid")
    schema_types = {branch["properties"]["type"]["const"] for branch in SCHEMA["oneOf"]}
    assert schema_types == set(OPERATIONAL_TYPES)
