"""No secret in any log: every configured secret through a full flow of real processes, then a search of
every process's captured output (relay web and worker, the provider sandbox) and of the API's error bodies.

The secrets are distinctive per run, so that a hit can only be a leak. `test_the_search_finds_a_leak` shows
that the search would see one: a throwaway process that prints a secret, and one that logs it through the
relay's own logging set-up without redaction.
"""

from __future__ import annotations

import base64
import re
import secrets
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.support.otlp import otlp_receiver
from tests.support.procs import Proc, free_port, python_module
from tests.support.relay import Relay, Sandbox
from tests.support.subscriber import Answer, Subscriber, subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

#: A compact JWS: ISP CRM session tokens are JWTs (and so are CryptoCloud postback tokens, credentials too
#: while they last). Nothing the relay logs should look like one.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}")


def distinctive(label: str) -> str:
    """A value that cannot occur by chance: random, alphanumeric (no URL or JSON escaping can disguise it)."""
    return f"{secrets.token_hex(8)}{label}{secrets.token_hex(8)}"


def make_secrets() -> dict[str, str]:
    # whsec_ + base64 whose text is alphanumeric (length a multiple of 4, no padding): the key bytes are
    # whatever that decodes to.
    whsec_body = f"LeakWhsec{secrets.token_hex(12)}Key"
    whsec_body += "A" * (-len(whsec_body) % 4)
    assert base64.b64decode(whsec_body, validate=True)
    return {
        "cryptocloud api_key": distinctive("LeakCcApiKey"),
        "cryptocloud secret_key": distinctive("LeakCcSecretKey"),
        "simplepay api_key": distinctive("LeakSpApiKey"),
        "simplepay webhook_secret": f"whsec_{whsec_body}",
        "simplepay webhook key (base64)": whsec_body,
        "smsonline api_key": distinctive("LeakSmsApiKey"),
        "smsonline callback_token": distinctive("LeakSmsNudge"),
        "smsonline (unreachable) api_key": distinctive("LeakDeadApiKey"),
        "ispcrm password": distinctive("LeakIspPassword"),
        "ispcrm callback_token": distinctive("LeakIspNudge"),
        "RELAY_ADMIN_TOKEN": distinctive("LeakAdminToken"),
    }


def find_leaks(text: str, values: Mapping[str, str]) -> list[str]:
    """What of `values` (whole, or its first 16 characters: a truncated secret is still a leak) and what
    JWT-shaped strings `text` holds."""
    found = [f"{name} in {where!r}" for name, value in values.items() for where in (value, value[:16]) if where in text]
    found += [f"a JWT: {match[:40]}..." for match in JWT.findall(text)]
    return found


@contextmanager
def sandbox_with_log() -> Iterator[tuple[Sandbox, Proc]]:
    """The provider sandbox, with its process kept at hand for its log (tests.support.relay.sandbox_process
    does not expose it)."""
    port = free_port()
    proc = python_module("sandbox", "--host", "127.0.0.1", "--port", str(port), name="sandbox")
    with proc:
        proc.wait_http(f"http://127.0.0.1:{port}/_sandbox/health")
        with Sandbox(f"http://127.0.0.1:{port}") as sandbox:
            yield sandbox, proc


def accounts_toml(sandbox_url: str) -> str:
    """Every secret by `${NAME}` reference, as an operator would configure them. `ldead` is an SMSOnline account
    (its API key rides in the URL's query) whose provider cannot be reached: connection errors name the URL."""
    return f"""
[accounts.ldead]
provider = "smsonline"
user_id = "dead-user"
api_key = "${{LEAK_DEAD_API_KEY}}"
base_url = "http://127.0.0.1:{free_port()}"
poll_interval = 0

[accounts.lcc]
provider = "cryptocloud"
api_key = "${{LEAK_CC_API_KEY}}"
secret_key = "${{LEAK_CC_SECRET_KEY}}"
base_url = "{sandbox_url}"
poll_interval = 0
initial_sync = "emit"

[accounts.lsp]
provider = "simplepay"
api_key = "${{LEAK_SP_API_KEY}}"
webhook_secret = "${{LEAK_SP_WEBHOOK_SECRET}}"
base_url = "{sandbox_url}"
poll_interval = 0
initial_sync = "emit"

[accounts.lsms]
provider = "smsonline"
user_id = "leak-user"
api_key = "${{LEAK_SMS_API_KEY}}"
callback_token = "${{LEAK_SMS_NUDGE}}"
base_url = "{sandbox_url}"
poll_interval = 0
initial_sync = "emit"

[accounts.lisp]
provider = "ispcrm"
username = "leak-isp-user"
password = "${{LEAK_ISP_PASSWORD}}"
callback_token = "${{LEAK_ISP_NUDGE}}"
currency = "EUR"
base_url = "{sandbox_url}"
poll_interval = 0
initial_sync = "emit"
"""


def relay_env(values: Mapping[str, str]) -> dict[str, str]:
    return {
        "RELAY_LOG_LEVEL": "DEBUG",
        "RELAY_RETRY_SCHEDULE": "1,1",
        "RELAY_DELIVERY_TIMEOUT": "2",
        "RELAY_ADMIN_TOKEN": values["RELAY_ADMIN_TOKEN"],
        "LEAK_CC_API_KEY": values["cryptocloud api_key"],
        "LEAK_CC_SECRET_KEY": values["cryptocloud secret_key"],
        "LEAK_SP_API_KEY": values["simplepay api_key"],
        "LEAK_SP_WEBHOOK_SECRET": values["simplepay webhook_secret"],
        "LEAK_SMS_API_KEY": values["smsonline api_key"],
        "LEAK_SMS_NUDGE": values["smsonline callback_token"],
        "LEAK_DEAD_API_KEY": values["smsonline (unreachable) api_key"],
        "LEAK_ISP_PASSWORD": values["ispcrm password"],
        "LEAK_ISP_NUDGE": values["ispcrm callback_token"],
    }


def create_sandbox_accounts(sandbox: Sandbox, relay_url: str, values: Mapping[str, str]) -> None:
    common = {"count": 3, "seed": 11}
    sandbox.create_account(
        name="lcc",
        provider="cryptocloud",
        api_key=values["cryptocloud api_key"],
        secret_key=values["cryptocloud secret_key"],
        callback_url=f"{relay_url}/webhooks/lcc",
        **common,
    )
    sandbox.create_account(
        name="lsp",
        provider="simplepay",
        api_key=values["simplepay api_key"],
        app_id=str(uuid.uuid4()),
        webhook_secret=values["simplepay webhook_secret"],
        callback_url=f"{relay_url}/webhooks/lsp",
        **common,
    )
    sandbox.create_account(
        name="lsms", provider="smsonline", user_id="leak-user", api_key=values["smsonline api_key"], **common
    )
    # A session lives 2 s: later syncs log in again, so session tokens keep being issued and used.
    sandbox.create_account(
        name="lisp",
        provider="ispcrm",
        username="leak-isp-user",
        password=values["ispcrm password"],
        token_ttl=2,
        **common,
    )


class Flow:
    """Drives the relay and keeps every answer body the API gave, for the error-body check."""

    def __init__(self, relay: Relay, sandbox: Sandbox, subscriber: Subscriber, values: Mapping[str, str]) -> None:
        self.relay = relay
        self.sandbox = sandbox
        self.subscriber = subscriber
        self.values = values
        self.bodies: list[str] = []
        self.public = httpx.Client(base_url=relay.url, timeout=10)

    def call(self, method: str, path: str, *, expect: int | tuple[int, ...], **kwargs: Any) -> httpx.Response:
        response = self.relay.http.request(method, path, **kwargs)
        assert response.status_code in ((expect,) if isinstance(expect, int) else expect), response.text
        self.bodies.append(response.text)
        return response

    def callback(self, account: str, *, expect: int, **kwargs: Any) -> None:
        response = self.public.post(f"/webhooks/{account}", **kwargs)
        assert response.status_code == expect, response.text
        self.bodies.append(response.text)

    def sync_all(self) -> None:
        before = {name: row["last_sync_at"] for name, row in self.relay.accounts().items() if name != "ldead"}
        self.call("POST", "/sync", expect=202)
        for name, last in before.items():
            self.relay.wait_synced(name, after=last)

    def events(self) -> int:
        """Invoice events logged: what a subscription to `*` receives (operational ones go where named)."""
        return len(self.relay.events(type="invoice.*"))

    def wait_delivered(self, path: str) -> None:
        wanted = self.events()

        def delivered() -> bool:
            return len({r.headers.get("webhook-id") for r in self.subscriber.on(path)}) >= wanted

        wait_until(delivered, timeout=20, what=f"{wanted} deliveries to {path}")


def drive(flow: Flow, values: Mapping[str, str]) -> None:
    relay, sandbox, subscriber = flow.relay, flow.sandbox, flow.subscriber
    subscriber.script("/fail", default=Answer(500))
    subscriber.script("/gone", default=Answer(410))
    sub = flow.call("POST", "/subscriptions", json={"url": subscriber.url("/leak")}, expect=201).json()
    failing = flow.call("POST", "/subscriptions", json={"url": subscriber.url("/fail")}, expect=201).json()
    flow.call("POST", "/subscriptions", json={"url": subscriber.url("/gone")}, expect=201)
    flow.values = {**values, "subscription secret": sub["secret"]}

    # Initial syncs of all four (ISP CRM logs in), events, deliveries.
    flow.sync_all()
    flow.wait_delivered("/leak")

    # Signed callbacks from the sandbox, good and bad.
    for account in ("lcc", "lsp"):
        invoice = sandbox.invoices(account)[0]["id"]
        assert sandbox.send_callback(account, invoice_id=invoice)["status_code"] == 202
        assert sandbox.send_callback(account, invoice_id=invoice, wrong_key=True)["status_code"] == 401
        assert sandbox.send_callback(account, invoice_id=invoice, expired=True)["status_code"] == 401
    invoice = sandbox.invoices("lsp")[0]["id"]
    assert sandbox.send_callback("lsp", invoice_id=invoice, scheme="hmac")["status_code"] == 202
    assert sandbox.send_callback("lsp", invoice_id=invoice, scheme="hmac", wrong_key=True)["status_code"] == 401
    # Secrets offered where they do not belong, and near misses that contain them.
    flow.callback("lcc", json={"token": values["cryptocloud secret_key"]}, expect=401)
    flow.callback("lcc", data={"token": values["cryptocloud api_key"]}, expect=401)
    flow.callback("lsp", content=b"{}", headers={"x-signature": values["simplepay api_key"]}, expect=401)
    flow.callback("lsp", content=b"{}", headers={"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": values["simplepay webhook_secret"]}, expect=401)  # fmt: skip
    flow.callback("lsp", content=values["simplepay webhook_secret"].encode(), expect=401)

    # Nudges: good ones in the header and in the query, bad ones that contain the token.
    sms, isp = values["smsonline callback_token"], values["ispcrm callback_token"]
    flow.callback("lsms", headers={"authorization": f"Bearer {sms}"}, expect=202)
    flow.callback("lisp", params={"token": isp}, expect=202)
    flow.callback("lsms", headers={"authorization": f"Bearer {sms}x"}, expect=401)
    flow.callback("lisp", params={"token": f"x{isp}"}, expect=401)
    flow.callback("lisp", headers={"authorization": f"Bearer {sms}"}, expect=401)
    bad_admin = {"authorization": f"Bearer {values['RELAY_ADMIN_TOKEN']}x"}
    assert flow.public.get("/accounts", headers=bad_admin).status_code == 401

    # Provider faults: a 401 (auth_failed), a malformed record, an ISP CRM 401 (log in again).
    sandbox.fault("lcc", kind="401", count=5)
    sandbox.fault("lsp", kind="malformed_record")
    sandbox.fault("lsms", kind="500")
    sandbox.fault("lisp", kind="401")
    for account in ("lcc", "lsp", "lsms", "lisp"):
        sandbox.act(account, sandbox.invoices(account)[-1]["id"], "pay")
    flow.sync_all()
    wait_until(lambda: relay.accounts()["lcc"]["last_sync_status"] == "auth_failed", timeout=20, what="auth_failed")
    assert sandbox.stats("lisp")["logins"] >= 2

    # Rotation, then more changes signed with both secrets.
    rotated = flow.call("POST", f"/subscriptions/{sub['id']}/rotate-secret", expect=200).json()
    flow.values = {**flow.values, "rotated subscription secret": rotated["secret"]}
    before = flow.events()
    for account in ("lsp", "lsms", "lisp"):
        sandbox.new_invoice(account)
    flow.sync_all()
    assert flow.events() >= before + 3

    def signed_with_both() -> bool:
        """Workers reload subscriptions every REFRESH_S: more changes until one is delivered with both."""
        flow.wait_delivered("/leak")
        if any(" " in r.headers.get("webhook-signature", "") for r in subscriber.on("/leak")):
            return True
        sandbox.new_invoice("lsms")
        flow.sync_all()
        return False

    wait_until(signed_with_both, timeout=20, interval=0.1, what="a delivery signed with both secrets")

    # Everything an operator reads back, errors included.
    flow.call("GET", "/accounts", expect=200)
    for listed in flow.call("GET", "/subscriptions", expect=200).json()["subscriptions"]:
        flow.call("GET", f"/subscriptions/{listed['id']}/deliveries", expect=200)
    flow.call("GET", "/events", expect=200)
    flow.call("GET", "/metrics", expect=200)

    def failed_delivery() -> bool:
        rows = relay.http.get(f"/subscriptions/{failing['id']}/deliveries", params={"status": "failed"}).json()
        return bool(rows["deliveries"])

    wait_until(failed_delivery, timeout=20, what="a failed delivery (a 500 subscriber, retry schedule 1,1)")
    flow.call("GET", f"/subscriptions/{failing['id']}/deliveries", expect=200)
    wait_until(lambda: relay.accounts()["ldead"]["last_sync_status"] == "error", timeout=20, what="ldead failing")
    assert "calling GET" in (relay.accounts()["ldead"]["last_error"] or "")
    flow.call("GET", "/accounts", expect=200)


def test_no_secret_in_any_log(redis_url: str) -> None:
    """Logs at DEBUG, with tracing on: every line and every exported span is searched."""
    values = make_secrets()
    with (
        sandbox_with_log() as (sandbox, sandbox_proc),
        subscriber_server() as subscriber,
        otlp_receiver() as receiver,
    ):
        env = {**relay_env(values), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        relay = Relay(redis_url, accounts_toml(sandbox.url), env=env)
        relay.http.headers["authorization"] = f"Bearer {values['RELAY_ADMIN_TOKEN']}"
        create_sandbox_accounts(sandbox, relay.url, values)
        flow = Flow(relay, sandbox, subscriber, values)
        try:
            relay.start_web()
            relay.start_worker()
            drive(flow, values)
        except BaseException:
            print(relay.logs()[-20000:], file=sys.stderr)
            raise
        finally:
            flow.public.close()
            relay.stop()  # the processes end, so their logs are complete
        sandbox_proc.stop()
        logs = relay.logs()
        sandbox_log = sandbox_proc.log()
        spans = receiver.snapshot()
        exported = b"".join(receiver.raw).decode("latin-1")
    all_values = flow.values
    # The processes exported the flow's spans (they flush at shutdown), provider requests included.
    assert {"callback", "sync", "provider request", "commit", "delivery attempt"} <= {span.name for span in spans}
    assert find_leaks(exported, all_values) == []
    # The flow did go through the paths that log what they refuse or skip.
    for event in ("callback_refused", "record_skipped", "provider_retry", "provider_relogin"):
        assert f'"event": "{event}"' in logs, event
    assert '"level": "debug"' in logs
    assert find_leaks(logs, all_values) == []
    assert find_leaks(sandbox_log, all_values) == []
    # The API's bodies: none holds a secret but the two answers that hand out a subscription secret.
    handed_out = {all_values["subscription secret"], all_values["rotated subscription secret"]}
    leaky = [
        body[:200] for body in flow.bodies if find_leaks(body, all_values) and not any(s in body for s in handed_out)
    ]
    assert leaky == []


def test_access_log_redacts_the_nudge_token(redis_url: str) -> None:
    """`?token=<callback_token>` is in the request line uvicorn's access log writes (through its own handler, not
    structlog's): with the access log on (uvicorn's default), it must be redacted too."""
    values = make_secrets()
    relay = Relay(redis_url, accounts_toml("http://127.0.0.1:9"), env=relay_env(values))
    argv = [sys.executable, "-m", "uvicorn", "service.web.app:create_app", "--factory"]
    web = Proc([*argv, "--host", "127.0.0.1", "--port", str(relay.port)], env=relay.env, name="web-access-log")
    try:
        web.start()
        web.wait_http(f"{relay.url}/healthz")
        token = values["ispcrm callback_token"]
        with httpx.Client(base_url=relay.url, timeout=10) as client:
            assert client.post("/webhooks/lisp", params={"token": token}).status_code == 202
            assert client.post("/webhooks/lisp", params={"token": token + "x"}).status_code == 401
    finally:
        web.stop()
        relay.stop()
    log = web.log()
    assert "POST /webhooks/lisp?token=" in log  # the access log was on
    assert find_leaks(log, values) == []


def test_the_search_finds_a_leak() -> None:
    """The search is not blind: a secret printed by a process, or logged through the relay's logging set-up
    when redaction does not know it, is found; the same line with redaction is clean."""
    values = make_secrets()
    secret = values["ispcrm password"]
    fake_session = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImxlYWsifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    script = (
        "import sys\n"
        "from service.logging import configure_logging\n"
        "import structlog\n"
        "secret, session = sys.argv[1], sys.argv[2]\n"
        "print('plain', secret[:20], flush=True)\n"
        "configure_logging([], log_format='json', level='DEBUG')\n"
        "structlog.get_logger('leak').warning('unredacted', password=secret, session=session)\n"
        "structlog.reset_defaults()\n"
        "configure_logging([secret, session], log_format='json', level='DEBUG')\n"
        "structlog.get_logger('leak').warning('redacted', password=secret, session=session)\n"
    )
    with Proc([sys.executable, "-c", script, secret, fake_session], name="leaky") as proc:
        wait_until(lambda: not proc.alive() or None, timeout=20, what="the leaky process to finish")
    lines = proc.log().splitlines()
    redacted = [line for line in lines if '"event": "redacted"' in line]
    assert len(redacted) == 1, lines
    unredacted = "\n".join(line for line in lines if line not in redacted)
    assert "ispcrm password in" in " ".join(find_leaks(unredacted, values))
    assert any(found.startswith("a JWT") for found in find_leaks(unredacted, values))
    assert find_leaks(redacted[0], values) == []
    assert redacted[0].count("[redacted]") == 2
