"""Provider faults from the sandbox: retried with backoff, skipped and counted, or marked auth_failed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Relay, Sandbox, relay_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ACCOUNTS = {
    "f429": "cryptocloud",
    "f500": "simplepay",
    "fslow": "smsonline",
    "fbad": "cryptocloud",
    "fjson": "ispcrm",
    "f401": "simplepay",
    "fendless": "cryptocloud",
    "fhuge": "simplepay",
    "dupsp": "simplepay",
    "dupsms": "smsonline",
    "dupisp": "ispcrm",
}


def sync_now(relay: Relay, account: str) -> dict[str, object]:
    before = relay.accounts()[account]["last_sync_at"]
    assert relay.trigger(account).status_code == 202
    return relay.wait_synced(account, after=before, timeout=30)


@pytest.fixture(scope="module")
def relay(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    for name, provider in ACCOUNTS.items():
        create_sandbox_account(sandbox, name, provider, count=20)
    toml = "\n".join(account_table(name, provider, sandbox.url) for name, provider in ACCOUNTS.items())
    # A Redis of its own: a relay that outlives one test must not share the function-scoped database. A short
    # timeout keeps the timeout test quick; a body limit of 16 MiB (64 by default) lets an endless answer reach
    # the limit well within that second even on a loaded machine, where 64 MiB once took longer and timed out.
    env = {"RELAY_PROVIDER_TIMEOUT": "1", "RELAY_PROVIDER_MAX_BODY": "16MiB"}
    with Valkey() as redis, relay_stack(redis.url, toml, env=env) as running:
        yield running


def test_429_with_retry_after_is_waited_out(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.fault("f429", kind="429", retry_after=1, count=2)
    row = sync_now(relay, "f429")
    assert row["last_sync_status"] == "ok", row
    assert len(relay.events(account="f429")) == 20
    assert sandbox.stats("f429")["list_requests"] >= 3


def test_500s_are_retried(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.fault("f500", kind="500", count=2)
    row = sync_now(relay, "f500")
    assert row["last_sync_status"] == "ok", row
    assert len(relay.events(account="f500")) == 20


def test_a_timeout_is_retried(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.fault("fslow", kind="slow", delay=3, count=1)
    row = sync_now(relay, "fslow")
    assert row["last_sync_status"] == "ok", row
    assert len(relay.events(account="fslow")) == 20


def test_a_malformed_record_is_skipped_and_counted(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.fault("fbad", kind="malformed_record", count=1)
    row = sync_now(relay, "fbad")
    assert row["last_sync_status"] == "ok", row
    assert row["skipped_records"] == 1
    assert len(relay.events(account="fbad")) == 19
    row = sync_now(relay, "fbad")  # the record heals at the provider: the next sync picks it up
    assert len(relay.events(account="fbad")) == 20


def test_malformed_json_is_retried(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.fault("fjson", kind="malformed_json", count=1)
    row = sync_now(relay, "fjson")
    assert row["last_sync_status"] == "ok", row
    assert len(relay.events(account="fjson")) == 20


def test_401_marks_auth_failed_without_a_retry_storm(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.fault("f401", kind="401", rate=1.0)
    row = sync_now(relay, "f401")
    assert row["last_sync_status"] == "auth_failed", row
    assert row["last_error"]
    requests = sandbox.stats("f401")["list_requests"]
    # No scheduled retry for a trigger-only account; nothing happens until the next trigger.
    with pytest.raises(AssertionError):
        wait_until(lambda: sandbox.stats("f401")["list_requests"] > requests or None, timeout=2, what="a retry")
    sandbox.call("DELETE", "/_sandbox/accounts/f401/faults")
    assert sync_now(relay, "f401")["last_sync_status"] == "ok"
    assert len(relay.events(account="f401", type="invoice.*")) == 20
    reported = [event["type"] for event in relay.events(account="f401", type="relay.*")]
    assert reported == ["relay.account.sync_failing", "relay.account.sync_recovered"]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize(("account", "kind"), [("fendless", "endless_body"), ("fhuge", "huge_body")])
def test_an_endless_or_huge_answer_fails_the_sync_cleanly_within_bounded_memory(
    relay: Relay, sandbox: Sandbox, account: str, kind: str
) -> None:
    sandbox.fault(account, kind=kind, count=1)
    row = sync_now(relay, account)
    assert row["last_sync_status"] == "error", row
    assert "past the limit of 16777216 bytes (RELAY_PROVIDER_MAX_BODY)" in str(row["last_error"])
    assert sandbox.stats(account)["list_requests"] == 1  # not retried: the same request brings the same answer
    (worker,) = relay.workers
    assert peak_rss_mb(worker.pid) < 300
    assert sync_now(relay, account)["last_sync_status"] == "ok"
    assert len(relay.events(account=account)) == 20


@pytest.mark.parametrize("account", ["dupsp", "dupsms", "dupisp"])
def test_an_invoice_listed_twice_counts_once_as_the_last_record_sent(
    relay: Relay, sandbox: Sandbox, account: str
) -> None:
    assert sync_now(relay, account)["last_sync_status"] == "ok"
    logged = relay.events(account=account)
    assert len(logged) == 20
    # Every record now comes twice, an older copy in another status first: never a change back and forth.
    sandbox.fault(account, kind="duplicate_records", count=2)
    for _ in range(2):
        assert sync_now(relay, account)["last_sync_status"] == "ok"
    assert relay.events(account=account) == logged
    (worker,) = relay.workers
    assert '"dropped": 20, "invoice_ids"' in worker.log()


def test_isp_crm_logs_in_again_when_its_session_expires(sandbox: Sandbox, redis_url: str) -> None:
    create_sandbox_account(sandbox, "relogin", "ispcrm", count=5, token_ttl=1)
    with relay_stack(redis_url, account_table("relogin", "ispcrm", sandbox.url)) as relay:
        assert sync_now(relay, "relogin")["last_sync_status"] == "ok"
        logins = sandbox.stats("relogin")["logins"]
        assert logins == 1
        # The sandbox's session tokens live one second; past that its list endpoint answers 401.
        expired_at = time.monotonic() + 1.2
        wait_until(lambda: time.monotonic() > expired_at, what="the session token to expire")
        sandbox.new_invoice("relogin")
        nudge = relay.http.post("/webhooks/relogin", headers={"authorization": f"Bearer {NUDGE}"})
        assert nudge.status_code == 202
        wait_until(lambda: len(relay.events(account="relogin")) == 6 or None, timeout=15, what="the new invoice")
        assert relay.accounts()["relogin"]["last_sync_status"] == "ok"
        assert sandbox.stats("relogin")["logins"] == 2
