"""The relay as real processes for end-to-end tests: sandbox providers, web (uvicorn) and arq workers."""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.procs import ROOT, Proc, free_port, python_module
from tests.support.waiting import wait_until

ADMIN_TOKEN = "test-admin-token-0123456789"


def procfile_command(kind: str) -> list[str]:
    """The Procfile's line for `kind` (web, worker) as this Python runs it: tests and benchmarks run the
    processes as they are deployed."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{kind}:"))
    argv = shlex.split(line.removeprefix(f"{kind}:"))
    return [sys.executable, "-m", *argv]


def web_command(port: int, *options: str) -> list[str]:
    """The Procfile's `web` line on 127.0.0.1:`port`, with `options` appended (a repeated uvicorn option takes
    its last value)."""
    argv = procfile_command("web")
    assert argv[2] == "uvicorn", argv
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return [*argv, *options]


@contextmanager
def sandbox_process(*args: str) -> Iterator[Sandbox]:
    port = free_port()
    proc = python_module("sandbox", "--host", "127.0.0.1", "--port", str(port), *args, name="sandbox")
    with proc:
        proc.wait_http(f"http://127.0.0.1:{port}/_sandbox/health")
        with Sandbox(f"http://127.0.0.1:{port}") as sandbox:
            yield sandbox


class Sandbox:
    """A client for the sandbox's operator API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path} -> {response.status_code}: {response.text}"
        return response.json() if response.content else None

    def create_account(self, **fields: Any) -> Any:
        return self.call("POST", "/_sandbox/accounts", json=fields)

    def invoices(self, account: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/_sandbox/accounts/{account}/invoices")["invoices"])

    def act(self, account: str, invoice_id: str, action: str, **body: Any) -> Any:
        return self.call("POST", f"/_sandbox/accounts/{account}/invoices/{invoice_id}/{action}", json=body)

    def new_invoice(self, account: str, **body: Any) -> Any:
        return self.call("POST", f"/_sandbox/accounts/{account}/invoices", json=body)

    def send_callback(self, account: str, **body: Any) -> Any:
        return self.call("POST", f"/_sandbox/accounts/{account}/callbacks", json=body)

    def fault(self, account: str, **body: Any) -> Any:
        return self.call("POST", f"/_sandbox/accounts/{account}/faults", json=body)

    def stats(self, account: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/_sandbox/accounts/{account}/stats"))


class Relay:
    """Web and worker processes of the relay against one Redis and one accounts file."""

    def __init__(self, redis_url: str, accounts_toml: str, env: Mapping[str, str] | None = None) -> None:
        folder = Path(tempfile.mkdtemp(prefix="relay-e2e-"))
        self.accounts_file = folder / "accounts.toml"
        self.accounts_file.write_text(accounts_toml)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "REDIS_URL": redis_url,
            "RELAY_ACCOUNTS_FILE": str(self.accounts_file),
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_ALLOW_PRIVATE_URLS": "true",
            "RELAY_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.http = httpx.Client(base_url=self.url, timeout=30, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})

    def start_web(self, *options: str) -> Proc:
        """The web process as the Procfile starts it, with extra uvicorn `options`."""
        self.web = Proc(web_command(self.port, *options), env=self.env, name="web").start()
        self.web.wait_http(f"{self.url}/healthz")
        return self.web

    def start_worker(self) -> Proc:
        worker = Proc(procfile_command("worker"), env=self.env, name="worker")
        self.workers.append(worker.start())
        return worker

    def stop(self) -> None:
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            proc.stop()
        self.http.close()

    def logs(self) -> str:
        procs = [*self.workers, *([self.web] if self.web else [])]
        return "\n".join(f"--- {p.name} {p.pid}\n{p.log()}" for p in procs)

    # The relay's public API.
    def events(self, **params: Any) -> list[dict[str, Any]]:
        """Every event in the log (following cursors), oldest first."""
        found: list[dict[str, Any]] = []
        after = None
        while True:
            query = {**params, "limit": 1000, **({"after": after} if after else {})}
            page = self.http.get("/events", params=query).raise_for_status().json()
            found += page["events"]
            after = page["next"]
            if after is None:
                return found

    def accounts(self) -> dict[str, dict[str, Any]]:
        rows = self.http.get("/accounts").raise_for_status().json()["accounts"]
        return {row["name"]: row for row in rows}

    def trigger(self, account: str | None = None) -> httpx.Response:
        path = "/sync" if account is None else f"/accounts/{account}/sync"
        return self.http.post(path)

    def wait_synced(self, account: str, *, after: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until the account shows a finished sync (newer than `after`, a last_sync_at value)."""

        def done() -> dict[str, Any] | None:
            row = self.accounts()[account]
            if row["last_sync_at"] is not None and (after is None or row["last_sync_at"] > after):
                return row
            return None

        return wait_until(done, timeout=timeout, what=f"a finished sync of {account}")


@contextmanager
def relay_stack(redis_url: str, accounts_toml: str, *, workers: int = 1, env: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    relay = Relay(redis_url, accounts_toml, env)
    try:
        relay.start_web()
        for _ in range(workers):
            relay.start_worker()
        yield relay
    except BaseException:
        print(relay.logs()[-20000:], file=sys.stderr)
        raise
    finally:
        relay.stop()
