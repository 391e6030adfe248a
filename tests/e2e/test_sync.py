"""Each provider end to end: signed callback or trigger -> sync -> the right events in GET /events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import NUDGE, accounts_toml, create_sandbox_accounts
from tests.support.procs import free_port
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def by_invoice(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["data"]["invoice"]["invoice_id"], []).append(event)
    return grouped


def wait_events(relay: Relay, account: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        found = relay.events(account=account)
        return found if len(found) >= count else None

    return wait_until(enough, timeout=timeout, what=f"{count} events of {account}")


def test_every_provider_end_to_end(sandbox: Sandbox, redis_url: str) -> None:
    create_sandbox_accounts(sandbox, count=12, prefix="a1")
    with relay_stack(redis_url, accounts_toml(sandbox.url, prefix="a1")) as relay:
        # First sync of each account in "emit" mode: one event per invoice.
        assert relay.trigger().status_code == 202
        for name in ("a1cc", "a1sp", "a1sms", "a1isp"):
            events = wait_events(relay, name, 12)
            assert len(events) == 12
            assert all(e["data"]["sequence"] == 1 and e["data"]["previous_status"] is None for e in events)
            # Events are committed page by page; the sync's outcome is recorded when it ends.
            row = relay.wait_synced(name)
            assert row["last_sync_status"] == "ok", row
            assert row["invoices"] == 12

        # A re-poll with no change emits nothing.
        before = relay.accounts()["a1cc"]["last_sync_at"]
        relay.trigger("a1cc")
        relay.wait_synced("a1cc", after=before)
        assert len(relay.events(account="a1cc")) == 12

        # CryptoCloud: pay an invoice, the sandbox sends its signed postback, the relay syncs.
        target = next(i for i in sandbox.invoices("a1cc") if i["status"] == "created")
        sandbox.act("a1cc", target["id"], "pay")
        answer = sandbox.send_callback("a1cc", url=f"{relay.url}/webhooks/a1cc", invoice_id=target["id"])
        assert answer["status_code"] == 202, answer
        events = wait_events(relay, "a1cc", 13)
        paid = by_invoice(events)[target["id"]]
        assert [e["type"] for e in paid] == ["invoice.created", "invoice.paid"]
        assert paid[1]["data"]["sequence"] == 2
        assert paid[1]["data"]["previous_status"] == "pending"
        invoice = paid[1]["data"]["invoice"]
        assert invoice["status"] == "paid"
        assert invoice["provider_status"] == "paid"
        assert invoice["key"] == f"a1cc:{target['id']}"
        assert invoice["amount_paid"] == invoice["amount"]

        # SimplePay with Standard Webhooks, then with X-Signature.
        target = next(i for i in sandbox.invoices("a1sp") if i["status"] == "active")
        sandbox.act("a1sp", target["id"], "cancel")
        answer = sandbox.send_callback(
            "a1sp", url=f"{relay.url}/webhooks/a1sp", invoice_id=target["id"], scheme="standard"
        )
        assert answer["status_code"] == 202, answer
        canceled = by_invoice(wait_events(relay, "a1sp", 13))[target["id"]]
        assert canceled[-1]["type"] == "invoice.canceled"

        # SMSOnline and ISP CRM: no provider callbacks; a nudge from the operator's systems.
        for name, action, expected in (("a1sms", "pay", "invoice.paid"), ("a1isp", "pay", "invoice.paid")):
            pending = next(
                i
                for i in sandbox.invoices(name)
                if i["status"].lower() in ("pending", "process", "check", "confirm_check", "unpaid", "created")
            )
            sandbox.act(name, pending["id"], action)
            nudge = relay.http.post(f"/webhooks/{name}", headers={"authorization": f"Bearer {NUDGE}"})
            assert nudge.status_code == 202
            changed = by_invoice(wait_events(relay, name, 13))[str(pending["id"])]
            assert changed[-1]["type"] == expected


def test_a_worker_serves_its_own_metrics(sandbox: Sandbox, redis_url: str) -> None:
    create_sandbox_accounts(sandbox, count=3, prefix="m1")
    port = free_port()
    with relay_stack(
        redis_url, accounts_toml(sandbox.url, prefix="m1"), env={"RELAY_WORKER_METRICS_PORT": str(port)}
    ) as relay:
        relay.trigger("m1sms")
        relay.wait_synced("m1sms")

        def scraped() -> str | None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return None
            return text if 'relay_syncs_total{account="m1sms",status="ok"}' in text else None

        text = wait_until(scraped, timeout=10, what="the worker's metrics")
        assert 'relay_events_total{type="invoice.' in text
        assert "relay_sync_duration_seconds_bucket" in text
        assert 'relay_invoices_read_total{account="m1sms"} 3.0' in text
