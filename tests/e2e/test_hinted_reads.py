"""A callback costs one provider read: the invoices a callback names are read back narrowly, through real
web and worker processes, the sandbox as the providers (its request counts tell which reads ran)."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ACCOUNTS = {
    "hcc": ("cryptocloud", 20),
    "hsp": ("simplepay", 20),
    "hsms": ("smsonline", 20),
    "hisp": ("ispcrm", 20),
    "hburst": ("cryptocloud", 400),
    "hlong": ("cryptocloud", 1500),
    "hfault": ("simplepay", 5),
}
NUDGE_HEADERS = {"authorization": f"Bearer {NUDGE}"}
OPEN_STATUSES = ("created", "active", "pending", "process", "check", "confirm_check", "unpaid")


@pytest.fixture(scope="module")
def relay(sandbox: Sandbox) -> Iterator[Relay]:
    for name, (provider, count) in ACCOUNTS.items():
        create_sandbox_account(sandbox, name, provider, count=count, latency_ms=20 if name == "hlong" else 0)
    toml = "\n".join(relay_account(name, provider, sandbox.url) for name, (provider, _) in ACCOUNTS.items())
    toml += "\n" + account_table("hpolled", "cryptocloud", sandbox.url, poll_interval=2)
    create_sandbox_account(sandbox, "hpolled", "cryptocloud", count=5)
    with Valkey() as redis, relay_stack(redis.url, toml, env={"RELAY_SYNC_LEASE": "2"}) as running:
        for name in [*ACCOUNTS, "hpolled"]:
            assert running.trigger(name).status_code == 202
        for name, (_, count) in [*ACCOUNTS.items(), ("hpolled", ("", 5))]:
            wait_until(lambda n=name, c=count: len(running.events(account=n)) >= c or None, timeout=30, what=name)
            running.wait_synced(name)
        yield running


def relay_account(name: str, provider: str, sandbox_url: str) -> str:
    """The account's table, SimplePay's without `app_id`: an account limited to one app reads only its list
    (the invoice details endpoint may answer for the merchant's other apps too)."""
    table = account_table(name, provider, sandbox_url)
    return "\n".join(line for line in table.splitlines() if not line.startswith("app_id")) + "\n"


def open_invoices(sandbox: Sandbox, account: str) -> list[dict[str, Any]]:
    return [i for i in sandbox.invoices(account) if str(i["status"]).lower() in OPEN_STATUSES]


def events_of(relay: Relay, account: str, invoice_id: str) -> list[dict[str, Any]]:
    return [e for e in relay.events(account=account) if e["data"]["invoice"]["invoice_id"] == str(invoice_id)]


def call_back(relay: Relay, sandbox: Sandbox, account: str, invoice_id: str) -> None:
    """The provider's own callback where it has one; a nudge naming the invoice where it does not."""
    if ACCOUNTS[account][0] in ("cryptocloud", "simplepay"):
        answer = sandbox.send_callback(account, url=f"{relay.url}/webhooks/{account}", invoice_id=invoice_id)
        assert answer["status_code"] == 202, answer
    else:
        nudge = relay.http.post(f"/webhooks/{account}", json={"invoice_ids": [str(invoice_id)]}, headers=NUDGE_HEADERS)
        assert nudge.status_code == 202, nudge.text


@pytest.mark.parametrize(("account", "narrow"), [("hcc", 1), ("hsp", 1), ("hisp", 1), ("hsms", 0)])
def test_a_hinted_callback_reads_only_its_invoice(relay: Relay, sandbox: Sandbox, account: str, narrow: int) -> None:
    target = open_invoices(sandbox, account)[0]
    before = sandbox.stats(account)
    synced = relay.accounts()[account]["last_sync_at"]
    sandbox.act(account, target["id"], "pay")
    call_back(relay, sandbox, account, target["id"])
    wait_until(lambda: len(events_of(relay, account, target["id"])) == 2 or None, timeout=15, what="the change")
    relay.wait_synced(account, after=synced)  # the change is logged before its sync ends and is recorded
    assert [e["type"] for e in events_of(relay, account, target["id"])][-1] in ("invoice.paid", "invoice.overpaid")
    after = sandbox.stats(account)
    # SMSOnline has only its list: one list request, and still no more.
    assert after["narrow_requests"] - before["narrow_requests"] == narrow
    assert after["list_requests"] - before["list_requests"] == 1 - narrow
    assert relay.accounts()[account]["last_read"] == ("narrow" if narrow else "full")


def test_hints_for_150_invoices_batch_into_two_info_requests(relay: Relay, sandbox: Sandbox) -> None:
    targets = open_invoices(sandbox, "hburst")[:150]
    assert len(targets) == 150
    before = sandbox.stats("hburst")
    (worker,) = relay.workers
    worker.signal(signal.SIGSTOP)  # every hint is pending when the next sync starts
    try:
        for invoice in targets:
            sandbox.act("hburst", invoice["id"], "pay")
            call_back_cc = sandbox.send_callback("hburst", url=f"{relay.url}/webhooks/hburst", invoice_id=invoice["id"])
            assert call_back_cc["status_code"] == 202
    finally:
        worker.signal(signal.SIGCONT)
    wanted = {str(invoice["id"]) for invoice in targets}

    def all_paid() -> bool:
        paid = {e["data"]["invoice"]["invoice_id"] for e in relay.events(account="hburst", type="invoice.paid")}
        return wanted <= paid

    wait_until(all_paid, timeout=20, what="150 paid invoices")
    after = sandbox.stats("hburst")
    assert after["narrow_requests"] - before["narrow_requests"] == 2
    assert after["list_requests"] == before["list_requests"]


def test_an_invoice_the_narrow_read_does_not_find_falls_back_to_a_full_read(relay: Relay, sandbox: Sandbox) -> None:
    before = sandbox.stats("hisp")
    synced = relay.accounts()["hisp"]["last_sync_at"]
    nudge = relay.http.post("/webhooks/hisp", json={"invoice_ids": ["987654321"]}, headers=NUDGE_HEADERS)
    assert nudge.status_code == 202
    row = relay.wait_synced("hisp", after=synced)
    assert (row["last_sync_status"], row["last_read"]) == ("ok", "full")
    after = sandbox.stats("hisp")
    assert (after["narrow_requests"] - before["narrow_requests"], after["list_requests"] - before["list_requests"]) == (
        1,
        1,
    )


def test_a_change_no_callback_names_is_recorded_by_the_following_full_read(relay: Relay, sandbox: Sandbox) -> None:
    silent, named = open_invoices(sandbox, "hpolled")[:2]
    sandbox.act("hpolled", silent["id"], "pay")  # no callback for this one
    sandbox.act("hpolled", named["id"], "pay")
    answer = sandbox.send_callback("hpolled", url=f"{relay.url}/webhooks/hpolled", invoice_id=named["id"])
    assert answer["status_code"] == 202
    wait_until(lambda: len(events_of(relay, "hpolled", named["id"])) == 2 or None, timeout=10, what="the named one")
    wait_until(lambda: len(events_of(relay, "hpolled", silent["id"])) == 2 or None, timeout=10, what="the silent one")


def test_hints_during_a_long_full_read_are_served_before_it_ends(relay: Relay, sandbox: Sandbox) -> None:
    """1,500 invoices, 15 pages of 20 ms each: callbacks sent while the full read runs are read between
    its pages, not after it."""
    targets = open_invoices(sandbox, "hlong")[-10:]
    synced = relay.accounts()["hlong"]["last_sync_at"]
    before = sandbox.stats("hlong")
    assert relay.trigger("hlong").status_code == 202
    wait_until(lambda: sandbox.stats("hlong")["list_requests"] > before["list_requests"] or None, what="the read")
    for invoice in targets:
        sandbox.act("hlong", invoice["id"], "pay")
        answer = sandbox.send_callback("hlong", url=f"{relay.url}/webhooks/hlong", invoice_id=invoice["id"])
        assert answer["status_code"] == 202
    full = relay.wait_synced("hlong", after=synced)
    assert full["last_read"] == "full"
    paid = [e for invoice in targets for e in events_of(relay, "hlong", invoice["id"])[1:]]

    def all_logged() -> bool | None:
        return len([e for i in targets for e in events_of(relay, "hlong", i["id"])]) == 20 or None

    # 10 s ran out once in a full run on a loaded machine.
    wait_until(all_logged, timeout=30, what="the 10 paid invoices' events")
    # The full read's pages came after the callbacks: served between pages, the changes are logged before it ends.
    assert any(event["timestamp"] < full["last_sync_at"] for event in paid) or len(paid) < 10
    assert sandbox.stats("hlong")["narrow_requests"] > before["narrow_requests"]


def test_narrow_requests_answered_500_are_retried(relay: Relay, sandbox: Sandbox) -> None:
    target = open_invoices(sandbox, "hfault")[0]
    sandbox.fault("hfault", kind="500", count=2, endpoint="narrow")
    before = sandbox.stats("hfault")
    sandbox.act("hfault", target["id"], "pay")
    call_back(relay, sandbox, "hfault", target["id"])
    wait_until(lambda: len(events_of(relay, "hfault", target["id"])) == 2 or None, timeout=15, what="the change")
    after = sandbox.stats("hfault")
    assert after["narrow_requests"] - before["narrow_requests"] == 3
    assert after["list_requests"] == before["list_requests"]


@pytest.mark.parametrize(
    "body",
    [b'{"invoice_ids": []}', b'{"invoice_ids": ["a b "]}', b'{"invoice_ids": "1"}', b"[1]", b"{"],
)
def test_a_malformed_nudge_body_is_400_and_queues_nothing(relay: Relay, sandbox: Sandbox, body: bytes) -> None:
    before = sandbox.stats("hisp")
    answer = relay.http.post("/webhooks/hisp", content=body, headers=NUDGE_HEADERS)
    assert answer.status_code == 400
    assert answer.json()["error"] == "refused"
    with pytest.raises(AssertionError):
        wait_until(lambda: sandbox.stats("hisp")["requests"] > before["requests"] or None, timeout=1, what="a read")


def test_each_hinted_change_exactly_once_when_a_worker_is_killed_mid_read(sandbox: Sandbox, redis_url: str) -> None:
    create_sandbox_account(sandbox, "hkill", "simplepay", count=30, latency_ms=300)
    toml = relay_account("hkill", "simplepay", sandbox.url)
    with relay_stack(redis_url, toml, env={"RELAY_SYNC_LEASE": "2"}) as relay:
        relay.trigger("hkill")
        wait_until(lambda: len(relay.events(account="hkill")) == 30 or None, timeout=20, what="first sight")
        relay.wait_synced("hkill")
        targets = open_invoices(sandbox, "hkill")[:10]
        before = sandbox.stats("hkill")["narrow_requests"]
        for invoice in targets:
            sandbox.act("hkill", invoice["id"], "pay")
            answer = sandbox.send_callback("hkill", url=f"{relay.url}/webhooks/hkill", invoice_id=invoice["id"])
            assert answer["status_code"] == 202
        wait_until(lambda: sandbox.stats("hkill")["narrow_requests"] > before or None, what="a narrow read")
        relay.workers[0].kill()
        relay.start_worker()
        wanted = {str(invoice["id"]) for invoice in targets}

        def all_paid() -> list[dict[str, Any]] | None:
            events = relay.events(account="hkill")
            paid = {e["data"]["invoice"]["invoice_id"] for e in events if e["type"] != "invoice.created"}
            return events if wanted <= paid else None

        events = wait_until(all_paid, timeout=30, what="every hinted change")
        assert len({e["id"] for e in events}) == len(events)
        per_invoice = Counter(e["data"]["invoice"]["invoice_id"] for e in events)
        assert all(per_invoice[invoice_id] == 2 for invoice_id in wanted), per_invoice
