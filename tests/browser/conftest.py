"""The operator console in a real browser: Playwright driving headless Chromium against real web and worker
processes, the provider sandbox and a real subscriber.

Everything here is module-scoped and the scenarios live in one test module: `make test` hands a whole file to
one xdist worker, so the relay, the sandbox and the browser start once for all of them.

The browser is the system's Chromium (Playwright's own browser download is never used): `RELAY_TEST_CHROMIUM`,
else `/usr/bin/chromium`, else `chromium` on the PATH. Without one the tests are skipped, except under
`CI=true`, where a missing browser fails them: CI must not pass by testing nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    StorageState,
    sync_playwright,
)

from tests.e2e.conftest import NUDGE, account_table, create_sandbox_account
from tests.support.otlp import Receiver, otlp_receiver
from tests.support.procs import ROOT
from tests.support.relay import ADMIN_TOKEN, Relay, Sandbox, relay_stack, sandbox_process
from tests.support.subscriber import Subscriber, subscriber_server

# The sandbox accounts the relay watches: CryptoCloud announces changes with signed callbacks; SMS Online and
# ISP CRM are nudged. ISP CRM is the one provider whose invoices carry a free-text description.
CRYPTOCLOUD = "bcc"
SMSONLINE = "bsms"
ISPCRM = "bisp"
ACCOUNTS = {CRYPTOCLOUD: "cryptocloud", SMSONLINE: "smsonline", ISPCRM: "ispcrm"}
INVOICES = 4


def chromium_path() -> str | None:
    """The Chromium to drive, or None when this machine has none."""
    configured = os.environ.get("RELAY_TEST_CHROMIUM")
    if configured:
        return configured
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def artifacts_dir() -> Path:
    """Where each visited page's screenshot goes: `RELAY_TEST_ARTIFACTS`, else tests/browser/artifacts/."""
    folder = Path(os.environ.get("RELAY_TEST_ARTIFACTS") or ROOT / "tests" / "browser" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def chromium() -> str:
    found = chromium_path()
    if found is None:
        message = "no Chromium: install Debian's `chromium` (.ci/run does) or set RELAY_TEST_CHROMIUM"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI runs the browser tests, it does not skip them")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def playwright(chromium: str) -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    # Chromium's sandbox needs user namespaces a root process is refused; as root it must run without.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright.chromium.launch(executable_path=chromium, args=args, headless=True)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_process() as running:
        for name, provider in ACCOUNTS.items():
            create_sandbox_account(running, name, provider, count=INVOICES)
        yield running


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    with subscriber_server() as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def relay(redis_server_url: str, sandbox: Sandbox, receiver: Receiver) -> Iterator[Relay]:
    """Web and worker processes, their accounts synced once, so the console has data from its first page.
    Tracing is on, so that events have a trace id for their page to show."""
    with redis.Redis.from_url(redis_server_url) as client:
        client.flushdb()  # what earlier test files of this xdist worker left there
    toml = "".join(account_table(name, provider, sandbox.url) for name, provider in ACCOUNTS.items())
    env = {
        "RELAY_RETRY_SCHEDULE": "1,1",
        "RELAY_DELIVERY_TIMEOUT": "2",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
    }
    with relay_stack(redis_server_url, toml, env=env) as running:
        assert running.trigger().status_code == 202
        for name in ACCOUNTS:
            running.wait_synced(name)
        yield running


@pytest.fixture(scope="module")
def signed_in_state(browser: Browser, relay: Relay) -> StorageState:
    """A signed-in session's cookies, signed in through the form once for every test that needs one."""
    context = browser.new_context(base_url=relay.url)
    page = context.new_page()
    page.goto("/console/sign-in")
    page.locator("#sign-in input[name=token]").fill(ADMIN_TOKEN)
    page.locator("#sign-in [type=submit]").click()
    page.wait_for_url(f"{relay.url}/console")
    state = context.storage_state()
    context.close()
    return state


class ConsoleLog:
    """What the browser's console said on a page: a Content-Security-Policy violation is reported there."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def record(self, message: ConsoleMessage) -> None:
        self.messages.append(f"{message.type}: {message.text}")

    def csp_violations(self) -> list[str]:
        return [text for text in self.messages if "content security policy" in text.lower()]


def watched_page(context: BrowserContext, console: ConsoleLog) -> Page:
    page = context.new_page()
    page.on("console", console.record)
    page.on("pageerror", lambda error: console.messages.append(f"pageerror: {error}"))
    # Confirmation prompts that console.js may add to destructive buttons: the operator says yes.
    page.on("dialog", lambda dialog: dialog.accept())
    return page


@pytest.fixture
def console_log() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def context(browser: Browser, relay: Relay) -> Iterator[BrowserContext]:
    """A fresh browser, not signed in."""
    fresh = browser.new_context(base_url=relay.url, viewport={"width": 1280, "height": 800})
    yield fresh
    fresh.close()


@pytest.fixture
def page(browser: Browser, relay: Relay, signed_in_state: StorageState, console_log: ConsoleLog) -> Iterator[Page]:
    """A signed-in page; no page it visits may report a Content-Security-Policy violation."""
    context = browser.new_context(
        base_url=relay.url,
        storage_state=signed_in_state,
        viewport={"width": 1280, "height": 800},
    )
    yield watched_page(context, console_log)
    context.close()
    assert console_log.csp_violations() == [], console_log.messages


def nudge(relay: Relay, account: str) -> None:
    """What an operator's systems send after an SMS Online or ISP CRM invoice changed."""
    response = relay.http.post(f"/webhooks/{account}", headers={"authorization": f"Bearer {NUDGE}"})
    assert response.status_code == 202, response.text
