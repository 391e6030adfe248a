"""Tracing end to end: real web and worker processes export over OTLP/HTTP to a receiver in this process; one
invoice change is one connected trace from the callback to each delivery attempt."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import account_table, create_sandbox_account
from tests.support.otlp import ExportedSpan, Receiver, otlp_receiver
from tests.support.procs import ROOT, Valkey
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.subscriber import Answer, Subscriber, subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ACCOUNT = "trc"
BURST = "trcburst"
OPEN = ("created",)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    with subscriber_server() as server:
        yield server


@pytest.fixture(scope="module")
def relay(sandbox: Sandbox, receiver: Receiver) -> Iterator[Relay]:
    create_sandbox_account(sandbox, ACCOUNT, "cryptocloud", count=6)
    # Slow answers: callbacks that arrive while one sync reads wait for the next, which serves them together.
    create_sandbox_account(sandbox, BURST, "cryptocloud", count=8, latency_ms=300)
    toml = account_table(ACCOUNT, "cryptocloud", sandbox.url) + account_table(BURST, "cryptocloud", sandbox.url)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "RELAY_RETRY_SCHEDULE": "1",
    }
    with Valkey() as redis, relay_stack(redis.url, toml, env=env) as running:
        for name in (ACCOUNT, BURST):
            assert running.trigger(name).status_code == 202
            running.wait_synced(name)
        yield running


def call_back(relay: Relay, sandbox: Sandbox, account: str, invoice_id: str) -> None:
    answer = sandbox.send_callback(account, url=f"{relay.url}/webhooks/{account}", invoice_id=invoice_id)
    assert answer["status_code"] == 202, answer


def open_invoice_ids(sandbox: Sandbox, account: str) -> list[str]:
    return [str(i["id"]) for i in sandbox.invoices(account) if str(i["status"]).lower() in OPEN]


def by_name(spans: list[ExportedSpan]) -> dict[str, list[ExportedSpan]]:
    named: dict[str, list[ExportedSpan]] = {}
    for span in spans:
        named.setdefault(span.name, []).append(span)
    return named


def test_one_callback_is_one_connected_trace_to_every_delivery_attempt(
    relay: Relay, sandbox: Sandbox, subscriber: Subscriber, receiver: Receiver
) -> None:
    subscription = relay.http.post("/subscriptions", json={"url": subscriber.url("/traced"), "accounts": [ACCOUNT]})
    assert subscription.status_code == 201
    subscriber.script("/traced", Answer(500))  # the first attempt fails, the retry a second later succeeds
    invoice_id = open_invoice_ids(sandbox, ACCOUNT)[0]
    sandbox.act(ACCOUNT, invoice_id, "pay")
    call_back(relay, sandbox, ACCOUNT, invoice_id)

    wait_until(lambda: len(subscriber.on("/traced")) >= 2 or None, timeout=20, what="two attempts")
    event_id = subscriber.on("/traced")[-1].headers["webhook-id"]
    logged = relay.http.get(f"/events/{event_id}")
    assert logged.json()["type"] == "invoice.paid"
    trace_id = logged.headers["x-trace-id"]

    def complete() -> dict[str, list[ExportedSpan]] | None:
        named = by_name(receiver.trace(trace_id))
        return named if len(named.get("delivery attempt", [])) == 2 else None

    named = wait_until(complete, timeout=15, what="the trace's spans")
    spans = receiver.trace(trace_id)
    (callback,) = named["callback"]
    assert callback.service == "invoice-relay-web"
    assert callback.parent_span_id == ""
    assert callback.attributes["relay.account"] == ACCOUNT
    assert callback.attributes["http.response.status_code"] == 202
    # Connected: every other span's parent is a span of the same trace.
    ids = {span.span_id for span in spans}
    assert all(span.parent_span_id in ids for span in spans if span is not callback), spans
    (sync,) = named["sync"]
    assert sync.parent_span_id == callback.span_id
    assert sync.service == "invoice-relay-worker"
    assert sync.attributes["relay.read"] == "narrow"
    requests = named["provider request"]
    assert requests
    assert all(r.parent_span_id == sync.span_id for r in requests)
    assert {r.attributes["url.path"] for r in requests} == {"/v2/invoice/merchant/info"}
    assert all(r.attributes["http.response.status_code"] == 200 for r in requests)
    (commit,) = named["commit"]
    assert commit.parent_span_id == sync.span_id
    (fanout,) = named["fan-out"]
    assert fanout.attributes["relay.event_id"] == event_id
    attempts = sorted(named["delivery attempt"], key=lambda span: int(span.attributes["relay.attempt"]))  # type: ignore[call-overload]
    assert [a.attributes["relay.attempt"] for a in attempts] == [1, 2]
    assert [a.attributes["http.response.status_code"] for a in attempts] == [500, 200]
    assert {a.attributes["relay.subscription_id"] for a in attempts} == {subscription.json()["id"]}
    assert all(a.parent_span_id == commit.span_id for a in [fanout, *attempts])


def test_a_sync_serving_a_burst_of_callbacks_links_to_each(relay: Relay, sandbox: Sandbox, receiver: Receiver) -> None:
    invoice_ids = open_invoice_ids(sandbox, BURST)[:5]
    for invoice_id in invoice_ids:
        sandbox.act(BURST, invoice_id, "pay")
    for invoice_id in invoice_ids:
        call_back(relay, sandbox, BURST, invoice_id)

    def callbacks() -> list[ExportedSpan] | None:
        found = [s for s in receiver.named("callback") if s.attributes.get("relay.account") == BURST]
        return found if len(found) == len(invoice_ids) else None

    traced_callbacks = wait_until(callbacks, timeout=15, what="the callbacks' spans")

    def linked() -> set[tuple[str, str]] | None:
        syncs = [s for s in receiver.named("sync") if s.attributes.get("relay.account") == BURST]
        links = {link for sync in syncs for link in sync.links}
        wanted = {(c.trace_id, c.span_id) for c in traced_callbacks}
        return links if wanted <= links else None

    wait_until(linked, timeout=20, what="every callback linked by a sync")
    syncs = [s for s in receiver.named("sync") if s.attributes.get("relay.account") == BURST and s.links]
    assert any(len(sync.links) > 1 for sync in syncs), [len(s.links) for s in syncs]
    for sync in syncs:  # a sync that reads continues the trace of the first callback it serves
        if sync.attributes.get("relay.read"):
            assert (sync.trace_id, sync.parent_span_id) == sync.links[0]


def test_no_secret_in_any_exported_span(relay: Relay, receiver: Receiver) -> None:
    exported = b"".join(receiver.raw)
    assert exported
    for line in relay.accounts_file.read_text().splitlines():
        if line.startswith(("api_key", "secret_key")):
            secret = line.split("=", 1)[1].strip().strip('"')
            assert secret.encode() not in exported


def test_with_tracing_off_no_exporter_is_made(tmp_path: Path) -> None:
    probe = (
        "import sys; from service.web.app import create_app; create_app(); import workers.settings; "
        "from service.tracing import TRACING; "
        "assert not TRACING.on; "
        "assert not [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))], "
        "sorted(m for m in sys.modules if m.startswith('opentelemetry'))"
    )
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(account_table("off", "smsonline", "http://127.0.0.1:9"))
    env: dict[str, Any] = {"RELAY_ACCOUNTS_FILE": str(accounts), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
