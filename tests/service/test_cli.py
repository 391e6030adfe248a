"""`relay`, the operator command line: `service.cli.main` in process against the relay's web app and a real Valkey.

The commands reach the app through an in-memory transport (`AppThread`); following the log across a restart needs
a socket that goes away, so that test serves the app with uvicorn from a thread (`ServedApp`). One test runs the
installed console script as a process, against a served app.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from redis.asyncio import Redis

from contracts.changes import detect_change
from contracts.model import Invoice, Status
from service import check
from service.cli import main
from service.config import Settings, load_settings
from service.state.account_state import AUTH_FAILED, AccountStates, SyncReport
from service.state.eventlog import EventLog, PendingChange
from service.state.keys import SYNC_DUE
from tests.support.inprocess import APP_ORIGIN, AppThread, ServedApp
from tests.support.procs import ROOT, free_port
from tests.support.relay import ADMIN_TOKEN
from tests.support.waiting import wait_until

RELAY = Path(sys.executable).parent / "relay"
ACCOUNTS_TOML = """
[accounts.sms]
provider = "smsonline"
user_id = "u1"
api_key = "sms-api-key-0123456789"
base_url = "http://127.0.0.1:9"
"""


def relay_settings(redis_url: str, folder: Path) -> Settings:
    """The configuration a relay process would read from its environment (as tests/support/relay.py sets it)."""
    (folder / "accounts.toml").write_text(ACCOUNTS_TOML)
    return load_settings(
        {
            "REDIS_URL": redis_url,
            "RELAY_ACCOUNTS_FILE": str(folder / "accounts.toml"),
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_ALLOW_PRIVATE_URLS": "true",
        }
    )


@pytest.fixture(scope="module")
def settings(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return relay_settings(redis_server_url, tmp_path_factory.mktemp("relay-cli"))


@pytest.fixture(scope="module")
def app(settings: Settings) -> Iterator[AppThread]:
    """One app for the module (no worker: nothing here needs syncs or deliveries to run)."""
    running = AppThread(settings)
    yield running
    running.close()


@pytest.fixture
def api(app: AppThread, redis_url: str) -> httpx.BaseTransport:
    """The way to the relay, with its database flushed for this test."""
    return app.transport()


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(transport: httpx.BaseTransport | None, *args: str, env: dict[str, str] | None = None) -> Ran:
    """`relay ARGS` with RELAY_URL and RELAY_ADMIN_TOKEN pointing at the test relay (overridable with `env`);
    `transport` None: over the network."""
    out, err = io.StringIO(), io.StringIO()
    with relay_environment(env):
        code = main(list(args), out=out, err=err, transport=transport)
    return Ran(code, out.getvalue(), err.getvalue())


@contextmanager
def relay_environment(env: dict[str, str] | None) -> Iterator[None]:
    """The process environment with the relay's variables replaced by the test's, restored afterwards."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    environ |= {"RELAY_URL": APP_ORIGIN, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN, **(env or {})}
    with mock.patch.dict(os.environ, environ, clear=True):
        yield


def ok(transport: httpx.BaseTransport | None, *args: str, **kwargs: Any) -> str:
    result = run(transport, *args, **kwargs)
    assert result.returncode == 0, f"relay {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def ok_json(transport: httpx.BaseTransport | None, *args: str) -> Any:
    return json.loads(ok(transport, *args, "--json"))


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.strip()]


def invoice(number: int, status: Status, account: str = "sms") -> Invoice:
    return Invoice(
        account=account,
        provider="smsonline",
        invoice_id=f"S{number:06d}",
        status=status,
        provider_status=status.value,
        amount=Decimal("12.50") + number,
        amount_paid=None,
        currency="USD",
        raw={"n": number},
    )


def log_events(redis_url: str, numbers: range, account: str = "sms") -> list[str]:
    """Commit first-sight events straight to the log (as a sync would); returns their ids, oldest first."""

    async def commit() -> list[str]:
        redis = Redis.from_url(redis_url)
        try:
            now = datetime.now(UTC)
            changes = []
            for n in numbers:
                change = detect_change(
                    None, invoice(n, Status.PAID if n % 2 else Status.PENDING, account), observed_at=now
                )
                assert change is not None
                assert change.event is not None
                changes.append(PendingChange(f"S{n:06d}", "", change))
            assert (await EventLog(redis).commit(account, changes)).logged == len(changes)
            return [c.change.event.id for c in changes if c.change.event is not None]
        finally:
            await redis.aclose()

    return asyncio.run(commit())


def redis_call(redis_url: str, method: str, *args: Any) -> Any:
    async def call() -> Any:
        redis = Redis.from_url(redis_url)
        try:
            return await getattr(redis, method)(*args)
        finally:
            await redis.aclose()

    return asyncio.run(call())


class Following:
    """What `relay events --follow --json` has printed so far (read from another thread while it runs)."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()

    def ids(self) -> list[str]:
        """Ids of the events printed so far (whole lines only: the command may be mid-write)."""
        text = self.out.getvalue()
        return [json.loads(line)["id"] for line in text[: text.rfind("\n") + 1].splitlines()]

    def errors(self) -> str:
        return self.err.getvalue()


def follow(transport: httpx.BaseTransport | None, scenario: Callable[[Following], None], env: dict[str, str]) -> int:
    """Run `relay events --follow --json` here, in the main thread, where Ctrl-C lands, while `scenario` runs in a
    thread beside it and then presses Ctrl-C: a real SIGINT to this thread. Returns the command's exit code."""
    following = Following()
    failures: list[BaseException] = []
    main_thread = threading.main_thread().ident
    assert main_thread == threading.get_ident(), "SIGINT reaches only the main thread"

    def drive() -> None:
        try:
            scenario(following)
        except BaseException as exc:
            failures.append(exc)
        finally:
            assert main_thread is not None
            signal.pthread_kill(main_thread, signal.SIGINT)

    driver = threading.Thread(target=drive, name="follow-scenario")
    code: int | None = None
    # As from a terminal, where Ctrl-C is not ignored: a test run started with SIGINT ignored (a background
    # job of a non-interactive shell) would otherwise see the command rightly keep ignoring it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        driver.start()
        with relay_environment(env):
            code = main(
                ["events", "--follow", "--interval", "0.1", "--json"],
                out=following.out,
                err=following.err,
                transport=transport,
            )
        driver.join()
    except KeyboardInterrupt:  # it landed outside the follow loop: the scenario failed early, or the command ended
        driver.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    if failures:
        raise failures[0]
    assert code is not None, f"the command did not take Ctrl-C:\n{following.errors()}"
    assert "Traceback" not in following.errors()
    return code


# relay check


def check_env(accounts_toml: str, folder: Path) -> dict[str, str]:
    (folder / "accounts.toml").write_text(accounts_toml)
    return {"RELAY_ACCOUNTS_FILE": str(folder / "accounts.toml")}


def release_check(env: dict[str, str]) -> Ran:
    """What `python -m service.check` (the Procfile's release step) prints and returns with `env`."""
    out, err = io.StringIO(), io.StringIO()
    with relay_environment(env), redirect_stdout(out), redirect_stderr(err):
        code = check.main()
    return Ran(code, out.getvalue(), err.getvalue())


def test_check_accepts_a_valid_configuration_like_the_release_check(tmp_path: Path) -> None:
    env = check_env(ACCOUNTS_TOML, tmp_path)
    result = run(None, "check", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "configuration ok: 1 account(s): sms (smsonline)\n"
    assert result == release_check(env)


@pytest.mark.parametrize(
    ("accounts_toml", "env", "message"),
    [
        ('[accounts.sms]\nprovider = "nope"\n', {}, "nope"),
        ('[accounts.sms]\nprovider = "smsonline"\nuser_id = "u1"\napi_key = "${MISSING_KEY}"\n', {}, "MISSING_KEY"),
        (ACCOUNTS_TOML, {"RELAY_RETRY_SCHEDULE": "soon"}, "RELAY_RETRY_SCHEDULE"),
    ],
)
def test_check_refuses_an_invalid_configuration_like_the_release_check(
    tmp_path: Path, accounts_toml: str, env: dict[str, str], message: str
) -> None:
    env = check_env(accounts_toml, tmp_path) | env
    result = run(None, "check", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result == release_check(env)


def test_check_does_not_need_the_api(tmp_path: Path) -> None:
    env = check_env(ACCOUNTS_TOML, tmp_path) | {"RELAY_URL": f"http://127.0.0.1:{free_port()}"}
    result = run(None, "check", env=env)
    assert result.returncode == 0


# accounts, sync


def test_accounts_table_and_json(api: httpx.BaseTransport, redis_url: str) -> None:
    rows = table(ok(api, "accounts"))
    assert rows[0] == ["NAME", "PROVIDER", "LAST", "SYNC", "STATUS", "INVOICES", "ERROR"]
    assert rows[1] == ["sms", "smsonline", "-", "-", "0", "-"]

    finished = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    report = SyncReport(status=AUTH_FAILED, finished_at=finished, error="the provider answered 401")

    async def record() -> None:
        redis = Redis.from_url(redis_url)
        await AccountStates(redis).record("sms", report)
        await redis.aclose()

    asyncio.run(record())
    log_events(redis_url, range(3))
    output = ok(api, "accounts")
    row = table(output)[1]
    assert row[:5] == ["sms", "smsonline", "2026-11-22T10:00:00Z", "auth_failed", "3"]
    assert " ".join(row[5:]) == "the provider answered 401"

    (row,) = ok_json(api, "accounts")["accounts"]
    assert row["name"] == "sms"
    assert row["last_sync_status"] == "auth_failed"
    assert row["invoices"] == 3


def test_sync_one_account_and_all(api: httpx.BaseTransport, redis_url: str) -> None:
    assert ok(api, "sync", "sms") == "sync queued: sms\n"
    assert [m.decode() for m in redis_call(redis_url, "zrange", SYNC_DUE, 0, -1)] == ["sms"]
    redis_call(redis_url, "delete", SYNC_DUE)
    assert ok(api, "sync") == "sync queued: sms\n"
    assert redis_call(redis_url, "zcard", SYNC_DUE) == 1
    assert ok_json(api, "sync") == {"status": "accepted", "accounts": ["sms"]}


def test_sync_of_an_unknown_account_prints_the_api_error(api: httpx.BaseTransport) -> None:
    result = run(api, "sync", "nobody")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "relay: unknown_account (HTTP 404)"


# subscriptions


def test_subscription_lifecycle(api: httpx.BaseTransport) -> None:
    created = ok_json(
        api, "subscriptions", "create", "http://127.0.0.1:9/hook",
        "--event-type", "invoice.paid", "--event-type", "invoice.canceled", "--account", "sms", "--description", "ops",
    )  # fmt: skip
    secret = created["secret"]
    assert secret.startswith("whsec_")
    sub_id = created["id"]
    assert created["event_types"] == ["invoice.paid", "invoice.canceled"]
    assert created["accounts"] == ["sms"]
    assert created["enabled"] is True
    assert created["description"] == "ops"

    listed = ok_json(api, "subscriptions", "list")["subscriptions"]
    assert [s["id"] for s in listed] == [sub_id]
    assert "secret" not in listed[0]
    listing = ok(api, "subscriptions", "list")
    assert table(listing)[0] == ["ID", "ENABLED", "URL", "EVENT", "TYPES", "ACCOUNTS", "DESCRIPTION"]
    assert table(listing)[1] == [
        sub_id,
        "yes",
        "http://127.0.0.1:9/hook",
        "invoice.paid,invoice.canceled",
        "sms",
        "ops",
    ]

    shown = ok(api, "subscriptions", "show", sub_id)
    assert f"id           {sub_id}" in shown
    assert "enabled      yes" in shown
    assert ok_json(api, "subscriptions", "show", sub_id) == {k: v for k, v in created.items() if k != "secret"}

    updated = ok_json(
        api, "subscriptions", "update", sub_id, "--disable", "--event-type", "*", "--url", "http://127.0.0.1:9/v2"
    )
    assert updated["enabled"] is False
    assert updated["event_types"] == ["*"]
    assert updated["url"] == "http://127.0.0.1:9/v2"
    assert ok_json(api, "subscriptions", "update", sub_id, "--enable")["enabled"] is True

    rotated = ok_json(api, "subscriptions", "rotate", sub_id)
    assert rotated["id"] == sub_id
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != secret
    assert rotated["previous_secret_expires_at"].endswith("Z")
    plain = run(api, "subscriptions", "rotate", sub_id)
    assert plain.returncode == 0
    new_secret = plain.stdout.split("secret", 1)[1].split()[0]
    assert new_secret.startswith("whsec_")
    assert "shown only now" in plain.stderr

    # The secret appears nowhere but in the answers of create and rotate.
    for args in (("subscriptions", "list"), ("subscriptions", "show", sub_id), ("subscriptions", "list", "--json")):
        output = ok(api, *args)
        assert "whsec_" not in output
        for known in (secret, rotated["secret"], new_secret):
            assert known not in output

    assert ok(api, "subscriptions", "delete", sub_id) == f"deleted {sub_id}\n"
    missing = run(api, "subscriptions", "show", sub_id)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "relay: unknown_subscription (HTTP 404)"
    assert ok_json(api, "subscriptions", "list") == {"subscriptions": []}


def test_create_prints_the_secret_once_in_plain_output(api: httpx.BaseTransport) -> None:
    result = run(api, "subscriptions", "create", "http://127.0.0.1:9/hook")
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert fields["secret"].startswith("whsec_")
    assert fields["event_types"] == "*"
    assert fields["accounts"] == "*"
    assert fields["enabled"] == "yes"
    assert "shown only now" in result.stderr


def test_a_refused_subscription_prints_the_api_error_and_detail(api: httpx.BaseTransport) -> None:
    result = run(api, "subscriptions", "create", "ftp://example.com/hook")
    assert result.returncode == 1
    assert result.stderr.strip() == "relay: invalid_subscription: url must use http or https (HTTP 400)"
    unknown = run(api, "subscriptions", "create", "http://127.0.0.1:9/", "--account", "nobody")
    assert unknown.returncode == 1
    assert "invalid_subscription: accounts: unknown account 'nobody'" in unknown.stderr


def test_update_without_changes_is_a_usage_error(api: httpx.BaseTransport) -> None:
    result = run(api, "subscriptions", "update", "sub_x")
    assert result.returncode == 2
    assert "nothing to change" in result.stderr


# deliveries, replay


def test_replay_and_deliveries(api: httpx.BaseTransport, redis_url: str) -> None:
    sub_id = ok_json(api, "subscriptions", "create", "http://127.0.0.1:9/hook", "--event-type", "invoice.paid")["id"]
    event_ids = log_events(redis_url, range(6))  # 1, 3, 5 are paid
    paid = event_ids[1::2]

    assert ok_json(api, "deliveries", sub_id) == {"deliveries": []}
    assert ok(api, "replay", sub_id, "--since", "2000-01-01T00:00:00Z") == f"queued 3 deliveries to {sub_id}\n"
    rows = ok_json(api, "deliveries", sub_id)["deliveries"]
    assert sorted(row["event_id"] for row in rows) == sorted(paid)
    assert {row["status"] for row in rows} == {"pending"}

    listing = table(ok(api, "deliveries", sub_id))
    assert listing[0] == ["EVENT", "STATUS", "ATTEMPTS", "LAST", "ATTEMPT", "CODE", "ERROR"]
    assert sorted(row[0] for row in listing[1:]) == sorted(paid)
    assert all(row[1:] == ["pending", "0", "-", "-", "-"] for row in listing[1:])
    assert ok_json(api, "deliveries", sub_id, "--status", "delivered") == {"deliveries": []}
    assert len(ok_json(api, "deliveries", sub_id, "--status", "pending")["deliveries"]) == 3
    assert len(ok_json(api, "deliveries", sub_id, "--limit", "2")["deliveries"]) == 2

    # By id: the filters still apply (event 0 is not paid).
    assert ok_json(api, "replay", sub_id, "--event-id", paid[0], "--event-id", event_ids[0])["queued"] == 1
    assert ok(api, "replay", sub_id, "--event-id", paid[0]) == f"queued 1 deliveries to {sub_id}\n"

    for bad_since in ("yesterday", "2026-11-22T10:00:00", "2026-11-22"):
        bad = run(api, "replay", sub_id, "--since", bad_since)
        assert bad.returncode == 2, bad_since
        assert f"expected an RFC 3339 time with an offset, Z or +hh:mm (2026-11-22T10:00:00Z), not '{bad_since}'" in (
            bad.stderr
        )
    assert ok(api, "replay", sub_id, "--since", "2000-01-01T03:00:00+03:00") == f"queued 3 deliveries to {sub_id}\n"
    assert run(api, "replay", sub_id).returncode == 2  # neither --since nor --event-id


def test_a_replay_names_the_event_ids_the_log_does_not_hold_and_exits_1(
    api: httpx.BaseTransport, redis_url: str
) -> None:
    sub_id = ok_json(api, "subscriptions", "create", "http://127.0.0.1:9/hook")["id"]
    (event_id,) = log_events(redis_url, range(1))
    result = run(api, "replay", sub_id, "--event-id", event_id, "--event-id", "evt_nope", "--event-id", "evt_gone")
    assert result.returncode == 1
    assert result.stdout == f"queued 1 deliveries to {sub_id}\n"
    assert result.stderr == "relay: not in the event log: evt_nope, evt_gone\n"

    as_json = run(api, "replay", sub_id, "--event-id", "evt_nope", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["unknown"] == ["evt_nope"]
    assert json.loads(as_json.stdout)["queued"] == 0
    assert run(api, "deliveries", sub_id, "--status", "lost").returncode == 2
    missing = run(api, "deliveries", "sub_missing")
    assert missing.returncode == 1
    assert "unknown_subscription" in missing.stderr


# events


def test_events_when_the_log_is_empty(api: httpx.BaseTransport) -> None:
    assert ok(api, "events") == ""
    assert ok(api, "events", "--json") == ""


def test_events_print_one_line_per_event(api: httpx.BaseTransport, redis_url: str) -> None:
    ids = log_events(redis_url, range(5))
    lines = ok(api, "events").splitlines()
    assert len(lines) == 5
    fields = [line.split() for line in lines]
    assert [f[1] for f in fields] == [
        "invoice.created",
        "invoice.paid",
        "invoice.created",
        "invoice.paid",
        "invoice.created",
    ]
    assert [f[2] for f in fields] == [f"sms:S{n:06d}" for n in range(5)]
    assert [f[3] for f in fields] == ["pending", "paid", "pending", "paid", "pending"]
    assert [f[4:] for f in fields] == [[f"{12.5 + n:.2f}", "USD"] for n in range(5)]
    assert all(f[0].endswith("Z") and f[0][:4].isdigit() for f in fields)

    as_json = [json.loads(line) for line in ok(api, "events", "--json").splitlines()]
    assert [event["id"] for event in as_json] == ids

    latest = [json.loads(line)["id"] for line in ok(api, "events", "--limit", "2", "--json").splitlines()]
    assert latest == ids[-2:]
    paid = [line.split()[2] for line in ok(api, "events", "--type", "invoice.paid").splitlines()]
    assert paid == ["sms:S000001", "sms:S000003"]
    assert ok(api, "events", "--account", "other") == ""


def test_events_show_prints_one_event(api: httpx.BaseTransport, redis_url: str) -> None:
    first, second = log_events(redis_url, range(2))
    shown = json.loads(ok(api, "events", "show", second))
    assert shown["id"] == second
    assert shown["data"]["invoice"]["key"] == "sms:S000001"
    assert json.loads(ok(api, "events", "show", first, "--json"))["id"] == first

    missing = run(api, "events", "show", "evt_nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.strip() == "relay: unknown_event (HTTP 404)"
    assert "needs an event id" in run(api, "events", "show").stderr
    assert run(api, "events", "show").returncode == 2
    assert run(api, "events", "show", first, "--follow").returncode == 2
    stray = run(api, "events", first)
    assert stray.returncode == 2
    assert f"did you mean `events show {first}`" in stray.stderr


def test_events_read_past_the_first_page(api: httpx.BaseTransport, redis_url: str) -> None:
    ids = log_events(redis_url, range(1205))
    latest = [json.loads(line)["id"] for line in ok(api, "events", "--limit", "3", "--json").splitlines()]
    assert latest == ids[-3:]


def test_events_follow_prints_new_events_and_stops_cleanly_on_ctrl_c(api: httpx.BaseTransport, redis_url: str) -> None:
    first = log_events(redis_url, range(2))
    logged: list[str] = []

    def scenario(follower: Following) -> None:
        wait_until(lambda: follower.ids() == first, timeout=10, what="the first events")
        logged.extend(log_events(redis_url, range(2, 1003)))  # more than one page arrives between two polls
        wait_until(lambda: len(follower.ids()) >= 1003, timeout=20, what="the new events")
        logged.extend(log_events(redis_url, range(1003, 1005)))
        wait_until(lambda: len(follower.ids()) >= 1005, timeout=10, what="the later events")
        assert follower.ids() == first + logged  # each once, in order
        assert follower.errors() == ""

    assert follow(api, scenario, {}) == 0


def test_events_follow_rides_out_a_restart_of_the_web_process(redis_url: str, tmp_path: Path) -> None:
    """Over a real socket: the outage is the served port closing, and the notice quotes the connection error."""
    web = ServedApp(relay_settings(redis_url, tmp_path)).start()
    try:
        first = log_events(redis_url, range(1))

        def scenario(follower: Following) -> None:
            wait_until(lambda: follower.ids() == first, timeout=10, what="the first event")
            web.stop()
            wait_until(lambda: "still following" in follower.errors(), timeout=10, what="the outage notice")
            assert follower.errors().startswith(f"relay: cannot reach the relay at {web.url}: ")
            later = log_events(redis_url, range(1, 3))
            web.start()
            wait_until(lambda: follower.ids() == first + later, timeout=15, what="the events after the restart")
            assert "relay: the relay answers again" in follower.errors()

        assert follow(None, scenario, {"RELAY_URL": web.url}) == 0
    finally:
        web.stop()


def test_events_follow_started_with_sigint_ignored_stops_on_sigterm(redis_url: str, tmp_path: Path) -> None:
    """A real `relay events --follow` started as a background job is (SIGINT ignored): SIGINT leaves it running,
    SIGTERM ends it cleanly (exit 0, its output flushed) within a deadline."""
    web = ServedApp(relay_settings(redis_url, tmp_path)).start()
    (event_id,) = log_events(redis_url, range(1))
    output = tmp_path / "follow.out"
    try:
        with output.open("wb") as out:
            follower = subprocess.Popen(
                [str(RELAY), "events", "--follow", "--interval", "0.1", "--json"],
                env=console_script_environment(web.url),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.PIPE,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509 - no threads here
            )
        try:
            wait_until(lambda: event_id in output.read_text(), timeout=20, what="the first event")
            follower.send_signal(signal.SIGINT)
            with pytest.raises(subprocess.TimeoutExpired):
                follower.wait(timeout=1)
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(timeout=10) == 0
            assert follower.stderr is not None
            assert follower.stderr.read() == b""
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait(timeout=10)
            if follower.stderr is not None:
                follower.stderr.close()
    finally:
        web.stop()
    assert [json.loads(line)["id"] for line in output.read_text().splitlines()] == [event_id]


# errors


def test_a_wrong_token_prints_the_api_error(api: httpx.BaseTransport) -> None:
    result = run(api, "accounts", env={"RELAY_ADMIN_TOKEN": "wrong-token"})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "relay: unauthorized (HTTP 401)"
    assert "wrong-token" not in result.stderr

    missing = run(api, "subscriptions", "list", env={"RELAY_ADMIN_TOKEN": ""})
    assert missing.returncode == 1
    assert "relay: unauthorized (HTTP 401)" in missing.stderr
    assert "set RELAY_ADMIN_TOKEN" in missing.stderr


def test_the_token_and_url_options_override_the_environment(api: httpx.BaseTransport) -> None:
    result = run(
        api, "--url", APP_ORIGIN, "--token", ADMIN_TOKEN, "accounts", "--json",
        env={"RELAY_URL": f"http://127.0.0.1:{free_port()}", "RELAY_ADMIN_TOKEN": "wrong-token"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accounts"][0]["name"] == "sms"


def test_an_unreachable_relay_exits_2_and_says_where() -> None:
    port = free_port()
    result = run(None, "accounts", env={"RELAY_URL": f"http://operator:s3cret-pass@127.0.0.1:{port}"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"relay: cannot reach the relay at http://127.0.0.1:{port}: ")
    assert "s3cret-pass" not in result.stderr
    assert "Traceback" not in result.stderr

    default = run(None, "sync", env={"RELAY_URL": "", "PORT": str(port)})
    assert default.returncode == 2
    assert f"http://127.0.0.1:{port}" in default.stderr


def console_script_environment(url: str) -> dict[str, str]:
    """The installed `relay` pointed at `url`, running this checkout's code (whichever checkout the editable
    install points at)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return environ | {"RELAY_URL": url, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}


def test_the_console_script_is_installed() -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="relay")
    assert entry.value == "service.cli:main"
    assert RELAY.exists(), "run `pip install -e .` to install the relay command"


def test_the_console_script_runs_against_a_served_relay(redis_url: str, tmp_path: Path) -> None:
    """The one run as a process: the installed `relay`, its environment, exit code and standard output."""
    web = ServedApp(relay_settings(redis_url, tmp_path)).start()
    try:
        result = subprocess.run(
            [str(RELAY), "accounts"],
            env=console_script_environment(web.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        web.stop()
    assert (result.returncode, result.stderr) == (0, "")
    assert table(result.stdout) == [
        ["NAME", "PROVIDER", "LAST", "SYNC", "STATUS", "INVOICES", "ERROR"],
        ["sms", "smsonline", "-", "-", "0", "-"],
    ]
