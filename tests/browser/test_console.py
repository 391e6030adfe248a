"""The operator console as an operator uses it: a real Chromium against real web and worker processes.

Every page a scenario visits is saved as a full-page screenshot in the artifacts folder (see conftest), to be
looked at. The relay and the browser are shared by the whole module; each scenario makes its own invoices and
subscriptions, on subscriber paths of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from standardwebhooks.webhooks import Webhook

from tests.browser.conftest import CRYPTOCLOUD, ISPCRM, SMSONLINE, ConsoleLog, artifacts_dir, nudge, watched_page
from tests.support.procs import ROOT
from tests.support.relay import ADMIN_TOKEN, Relay, Sandbox
from tests.support.subscriber import Received, Subscriber
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SCRIPT = "<script>window.__pwned=1</script>"
WAIT_MS = 15_000  # for what a worker does: a sync, a fan-out, a delivery


def shot(page: Page, name: str) -> None:
    page.screenshot(path=artifacts_dir() / f"{name}.png", full_page=True)


def reload_until(page: Page, locator: Locator, *, count: int = 1, what: str) -> None:
    """Reload until `locator` matches `count` elements or more: for pages whose parts are not live."""

    def enough() -> bool:
        page.reload()
        return locator.count() >= count

    wait_until(enough, timeout=WAIT_MS / 1000, interval=0.3, what=what)


def sign_in(page: Page, token: str) -> None:
    page.goto("/console/sign-in")
    page.locator("#sign-in input[name=token]").fill(token)
    page.locator("#sign-in [type=submit]").click()


def subscribe(relay: Relay, url: str, **fields: Any) -> dict[str, Any]:
    """A subscription made through the operator API: the scenarios that steer one need one to start from."""
    response = relay.http.post("/subscriptions", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def new_sms_event(sandbox: Sandbox, relay: Relay) -> str:
    """A new SMS Online invoice, nudged; the id of the event the relay logs for it."""
    invoice = sandbox.new_invoice(SMSONLINE, amount=1250)["id"]
    nudge(relay, SMSONLINE)
    event = event_for(relay, SMSONLINE, lambda logged: logged["data"]["invoice"]["invoice_id"] == invoice)
    return str(event["id"])


def event_for(relay: Relay, account: str, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((event for event in reversed(relay.events(account=account)) if matches(event)), None)

    return wait_until(found, timeout=WAIT_MS / 1000, what=f"the event of {account}")


def received(subscriber: Subscriber, path: str, event_id: str, count: int = 1) -> list[Received]:
    """Wait until `path` was sent `event_id` `count` times."""

    def enough() -> list[Received] | None:
        found = [r for r in subscriber.on(path) if r.headers.get("webhook-id") == event_id]
        return found if len(found) >= count else None

    return wait_until(enough, timeout=WAIT_MS / 1000, what=f"{count} deliveries of {event_id} to {path}")


def subscription_page(page: Page, subscription_id: str) -> None:
    page.goto(f"/console/subscriptions/{subscription_id}")
    expect(page.locator("#subscription-url")).to_be_visible()


def set_field(field: Locator, value: str) -> None:
    """A form field set as an operator would: a choice picked from a list, or text typed."""
    if field.evaluate("element => element.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def csrf_of(page: Page, form: str) -> str:
    value = page.locator(f"{form} input[name=csrf]").get_attribute("value")
    assert value, f"{form} carries no CSRF token"
    return value


def test_a_wrong_token_is_refused_then_the_right_one_signs_in(context: BrowserContext, relay: Relay) -> None:
    page = context.new_page()
    page.goto("/console")
    expect(page).to_have_url(f"{relay.url}/console/sign-in")
    expect(page.locator("#sign-in input[name=token]")).to_have_attribute("type", "password")
    shot(page, "sign-in")

    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        sign_in(page, "not-the-token-0123456789")
    assert refused.value.status == 401
    expect(page.locator("#sign-in-error")).to_have_text("Sign-in refused.")
    assert "not-the-token" not in page.content()
    assert context.cookies() == []
    shot(page, "sign-in-refused")

    sign_in(page, ADMIN_TOKEN)
    expect(page).to_have_url(f"{relay.url}/console")
    expect(page.locator("table#accounts")).to_be_visible()
    (cookie,) = [c for c in context.cookies() if c["name"] == "relay_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] > datetime.now(UTC).timestamp()  # an expiry, not a browser-session cookie
    assert ADMIN_TOKEN not in cookie["value"]


def test_the_overview_shows_the_accounts_and_an_event_arriving_live(page: Page, relay: Relay, sandbox: Sandbox) -> None:
    page.goto("/console")
    for name, provider in ((CRYPTOCLOUD, "cryptocloud"), (SMSONLINE, "smsonline"), (ISPCRM, "ispcrm")):
        expect(page.locator(f'table#accounts tr[data-account="{name}"]')).to_contain_text(provider)
    for series in ("callbacks", "syncs", "events", "deliveries"):
        expect(page.locator(f'section#activity figure[data-series="{series}"] svg')).to_have_count(1)
    recent = page.locator("section#recent-events tr[data-event-id]")
    expect(recent.first).to_be_visible()
    shot(page, "overview")
    # A mark the page keeps only as long as it is not loaded again.
    page.evaluate("window.__sameDocument = true")

    invoice = next(i for i in sandbox.invoices(CRYPTOCLOUD) if i["status"] == "created")
    sandbox.act(CRYPTOCLOUD, invoice["id"], "pay")
    answer = sandbox.send_callback(CRYPTOCLOUD, url=f"{relay.url}/webhooks/{CRYPTOCLOUD}", invoice_id=invoice["id"])
    assert answer["status_code"] == 202, answer
    paid = event_for(relay, CRYPTOCLOUD, lambda e: e["type"] == "invoice.paid")

    arrived = page.locator(f'section#recent-events tr[data-event-id="{paid["id"]}"]')
    expect(arrived).to_be_visible(timeout=WAIT_MS)
    expect(arrived).to_contain_text("invoice.paid")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded, not updated in place"
    shot(page, "overview-live-event")


def test_a_subscription_created_in_the_form_shows_its_secret_once_then_its_deliveries(
    page: Page, relay: Relay, sandbox: Sandbox, subscriber: Subscriber
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/console/subscriptions")
    page.locator("a#new-subscription").click()
    expect(page).to_have_url(f"{relay.url}/console/subscriptions/new")
    form = page.locator("form#create-subscription")
    form.locator("[name=url]").fill(subscriber.url("/created"))
    form.locator("[name=accounts]").fill(SMSONLINE)
    form.locator("[name=description]").fill("created in the browser")
    shot(page, "subscription-new")
    form.locator("[type=submit]").click()

    secret = page.locator("#new-secret").inner_text().strip()
    assert secret.startswith("whsec_"), secret
    assert "whsec_" not in page.url
    page.locator("button#copy-secret").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "subscription-created")
    link = page.locator("a[href^='/console/subscriptions/sub_']").first
    subscription_id = (link.get_attribute("href") or "").rsplit("/", 1)[-1]
    assert subscription_id.startswith("sub_")

    page.goto("/console/subscriptions")
    row = page.locator(f'table#subscriptions tr[data-subscription-id="{subscription_id}"]')
    expect(row).to_contain_text(subscriber.url("/created"))
    assert secret not in page.content()
    row.locator("a.subscription-link").click()
    expect(page.locator("#subscription-description")).to_have_text("created in the browser")
    expect(page.locator("#subscription-enabled")).to_have_text("enabled")
    assert secret not in page.content()

    event_id = new_sms_event(sandbox, relay)
    (delivered,) = received(subscriber, "/created", event_id)
    Webhook(secret).verify(delivered.body, delivered.headers)  # the secret shown is the one that signs

    delivery = page.locator(f'section#deliveries div.delivery[data-event-id="{event_id}"]')
    reload_until(page, delivery.locator("tr.attempt"), what="the first delivery's attempt on the subscription page")
    expect(delivery.locator("tr.attempt").first).to_contain_text("200")
    assert secret not in page.content()
    shot(page, "subscription-page")

    page.goto(f"/console/events/{event_id}")
    on_event = page.locator(f'section#deliveries div.delivery[data-subscription-id="{subscription_id}"]')
    expect(on_event.locator("table.attempts tr.attempt")).to_have_count(1)
    expect(on_event.locator("tr.attempt")).to_contain_text("200")
    shot(page, "event-page")


def test_sync_now_triggers_a_sync_of_the_account(page: Page, relay: Relay) -> None:
    before = relay.accounts()[SMSONLINE]["last_sync_at"]
    page.goto("/console")
    page.locator(f'tr[data-account="{SMSONLINE}"] form.sync-account [type=submit]').click()
    expect(page).to_have_url(f"{relay.url}/console")
    expect(page.locator("#flash")).to_contain_text(SMSONLINE)
    relay.wait_synced(SMSONLINE, after=before)


def test_the_events_page_tails_the_log(page: Page, relay: Relay, sandbox: Sandbox) -> None:
    page.goto("/console/events")
    expect(page.locator("table#events tr[data-event-id]").first).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    event_id = new_sms_event(sandbox, relay)
    arrived = page.locator(f'table#events tr[data-event-id="{event_id}"]')
    expect(arrived).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("table#events tr[data-event-id]").first).to_have_attribute("data-event-id", event_id)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded, not updated in place"
    shot(page, "events-tailed")


def test_replay_queues_the_event_again(page: Page, relay: Relay, sandbox: Sandbox, subscriber: Subscriber) -> None:
    subscription = subscribe(relay, subscriber.url("/replayed"), accounts=[SMSONLINE])
    event_id = new_sms_event(sandbox, relay)
    received(subscriber, "/replayed", event_id)
    subscription_page(page, subscription["id"])
    attempts = page.locator(f'div.delivery[data-event-id="{event_id}"] tr.attempt')
    reload_until(page, attempts, what="the first attempt")
    before = attempts.count()

    page.locator("form#replay [name=event_ids]").fill(event_id)
    page.locator("form#replay [type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("Queued")
    shot(page, "subscription-replayed")
    received(subscriber, "/replayed", event_id, count=2)
    reload_until(page, attempts, count=before + 1, what="the replay's attempt")


def test_rotating_shows_a_new_secret_once_and_signs_with_it(
    page: Page, relay: Relay, sandbox: Sandbox, subscriber: Subscriber
) -> None:
    subscription = subscribe(relay, subscriber.url("/rotated"), accounts=[SMSONLINE])
    subscription_page(page, subscription["id"])
    page.locator("form#rotate-secret [type=submit]").click()
    secret = page.locator("#new-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    assert secret != subscription["secret"]
    shot(page, "subscription-rotated")

    subscription_page(page, subscription["id"])
    assert secret not in page.content()
    assert subscription["secret"] not in page.content()
    event_id = new_sms_event(sandbox, relay)
    (delivered,) = received(subscriber, "/rotated", event_id)
    Webhook(secret).verify(delivered.body, delivered.headers)


def test_a_disabled_subscription_is_sent_nothing(
    page: Page, relay: Relay, sandbox: Sandbox, subscriber: Subscriber
) -> None:
    disabled = subscribe(relay, subscriber.url("/disabled"), accounts=[SMSONLINE])
    # Fanned out from the same event: once it has its delivery, the disabled one would have had its own.
    subscribe(relay, subscriber.url("/control"), accounts=[SMSONLINE])
    subscription_page(page, disabled["id"])
    page.locator("form#toggle-subscription [type=submit]").click()
    expect(page.locator("#subscription-enabled")).to_have_text("disabled")
    expect(page.locator("#flash")).to_be_visible()
    shot(page, "subscription-disabled")

    event_id = new_sms_event(sandbox, relay)
    received(subscriber, "/control", event_id)
    assert subscriber.on("/disabled") == []
    page.reload()
    expect(page.locator(f'div.delivery[data-event-id="{event_id}"] tr.attempt')).to_have_count(0)


def test_deleting_asks_for_confirmation_first(page: Page, relay: Relay, subscriber: Subscriber) -> None:
    subscription = subscribe(relay, subscriber.url("/deleted"), accounts=[SMSONLINE])
    subscription_page(page, subscription["id"])
    page.locator("a#delete-subscription").click()
    expect(page.locator("form#confirm-delete")).to_be_visible()
    shot(page, "subscription-delete-confirmation")
    assert relay.http.get(f"/subscriptions/{subscription['id']}").status_code == 200  # asking deletes nothing

    page.locator("form#confirm-delete [type=submit]").click()
    expect(page).to_have_url(f"{relay.url}/console/subscriptions")
    expect(page.locator("#flash")).to_be_visible()
    expect(page.locator(f'tr[data-subscription-id="{subscription["id"]}"]')).to_have_count(0)
    assert relay.http.get(f"/subscriptions/{subscription['id']}").status_code == 404


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, relay: Relay, subscriber: Subscriber) -> None:
    subscription = subscribe(relay, subscriber.url("/csrf"), accounts=[SMSONLINE])
    subscription_page(page, subscription["id"])
    action = f"/console/subscriptions/{subscription['id']}/disable"
    token = csrf_of(page, "form#toggle-subscription")

    forms: list[dict[str, str | float | bool]] = [{}, {"csrf": "forged-" + token[::-1]}]
    for form in forms:
        refused = page.request.post(action, form=form, max_redirects=0)
        assert refused.status == 403, form
        assert "CSRF" in refused.text()
        assert relay.http.get(f"/subscriptions/{subscription['id']}").json()["enabled"] is True

    # The same request with the page's token goes through: the refusals above were for the token alone.
    accepted = page.request.post(action, form={"csrf": token}, max_redirects=0)
    assert accepted.status == 303
    assert relay.http.get(f"/subscriptions/{subscription['id']}").json()["enabled"] is False


def test_a_provider_description_holding_a_script_is_shown_as_text(
    page: Page, relay: Relay, sandbox: Sandbox, console_log: ConsoleLog
) -> None:
    invoice = sandbox.invoices(ISPCRM)[0]["id"]
    sandbox.act(ISPCRM, str(invoice), "set", description=SCRIPT)
    nudge(relay, ISPCRM)
    event = event_for(relay, ISPCRM, lambda e: e["data"]["invoice"]["description"] == SCRIPT)

    page.goto(f"/console/events?account={ISPCRM}")
    page.locator(f'tr[data-event-id="{event["id"]}"] a.event-link').click()
    expect(page).to_have_url(f"{relay.url}/console/events/{event['id']}")
    expect(page.locator("pre#event-body")).to_contain_text(SCRIPT)
    trace_id = relay.http.get(f"/events/{event['id']}").raise_for_status().headers.get("x-trace-id")
    assert trace_id, "tracing is on: the event was recorded with its trace"
    expect(page.locator("#trace-id")).to_have_text(trace_id)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script", has_text="__pwned").count() == 0
    shot(page, "event-page-script-description")
    assert console_log.csp_violations() == [], console_log.messages


def test_pages_carry_the_content_security_policy_and_serve_their_scripts_themselves(page: Page) -> None:
    for path in ("/console", "/console/events", "/console/subscriptions", "/console/subscriptions/new"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert response.headers["content-security-policy"] == CSP, path
        sources = page.locator("script[src]").evaluate_all("scripts => scripts.map(s => s.getAttribute('src'))")
        assert sources, f"{path} loads no script"
        assert all(src.startswith("/console/static/") for src in sources), sources
        assert page.locator("script:not([src])").count() == 0, f"{path} has an inline script"
    htmx = [src for src in sources if re.fullmatch(r"/console/static/htmx-[\d.]+\.min\.js", src)]
    assert htmx, sources


def test_with_javascript_off_an_operator_signs_in_and_reads_the_events(browser: Browser, relay: Relay) -> None:
    context = browser.new_context(base_url=relay.url, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, ADMIN_TOKEN)
    expect(page).to_have_url(f"{relay.url}/console")
    page.locator("a#nav-events").click()
    expect(page.locator("table#events tr[data-event-id]").first).to_be_visible()

    set_field(page.locator("form#event-filters [name=account]"), CRYPTOCLOUD)
    page.locator("form#event-filters [type=submit]").click()
    expect(page).to_have_url(re.compile(rf"account={CRYPTOCLOUD}"))
    newest_first = [event["id"] for event in reversed(relay.events(account=CRYPTOCLOUD))]
    shown = page.locator("table#events tr[data-event-id]").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
    assert shown, "no event listed"
    assert shown == newest_first[: len(shown)]
    shot(page, "events-without-javascript")
    context.close()


def test_signing_out_ends_the_session(context: BrowserContext, relay: Relay, console_log: ConsoleLog) -> None:
    page = watched_page(context, console_log)
    sign_in(page, ADMIN_TOKEN)
    expect(page).to_have_url(f"{relay.url}/console")
    page.locator("form#sign-out [type=submit]").click()
    expect(page).to_have_url(f"{relay.url}/console/sign-in")
    page.goto("/console/events")
    expect(page).to_have_url(f"{relay.url}/console/sign-in")
    assert [c for c in context.cookies() if c["name"] == "relay_console" and c["value"]] == []


def test_the_overview_after_the_scenarios(page: Page, relay: Relay) -> None:
    """Last: the overview with the scenarios' data (accounts, activity, events, subscriptions' health). With
    UPDATE_CONSOLE_SCREENSHOT=1 it is also the README's screenshot, docs/console-overview.png."""
    page.goto("/console")
    subscriptions = relay.http.get("/subscriptions").raise_for_status().json()["subscriptions"]
    health = page.locator("table#subscription-health tr[data-subscription-id]")
    expect(health).to_have_count(len(subscriptions))
    shot(page, "overview-after-scenarios")
    if os.environ.get("UPDATE_CONSOLE_SCREENSHOT") == "1":
        page.screenshot(path=ROOT / "docs" / "console-overview.png", full_page=True)
