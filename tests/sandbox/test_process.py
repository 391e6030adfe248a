"""`python -m sandbox` as a real process: TOML accounts, paging over real HTTP, churn, live callbacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.sandbox.conftest import CC_SECRET
from tests.sandbox.receiver import Receiver
from tests.support.procs import ROOT, Proc, free_port, python_module
from tests.support.waiting import await_until, wait_until

ACCOUNTS = textwrap.dedent(
    f"""
    [accounts.docs]
    provider = "cryptocloud"
    api_key = "key-docs"
    secret_key = "{CC_SECRET}"
    count = 437
    seed = 11

    [accounts.clients]
    provider = "cryptocloud"
    api_key = "key-clients"
    limit_mode = "count"
    count = 305
    seed = 12

    [accounts.pay]
    provider = "simplepay"
    api_key = "sp"
    count = 40

    [accounts.crm]
    provider = "ispcrm"
    username = "bob"
    password = "builder"
    count = 12
    """
)


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS)
    return path


def start(*args: str) -> tuple[Proc, str]:
    port = free_port()
    proc = python_module("sandbox", "--host", "127.0.0.1", "--port", str(port), *args, name=f"sandbox-{port}")
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(f"{base}/_sandbox/health")
    except BaseException:
        proc.stop()
        raise
    return proc, base


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One sandbox process for the tests that only read from it."""
    path = tmp_path_factory.mktemp("served") / "accounts.toml"
    path.write_text(ACCOUNTS)
    proc, base = start("--accounts", str(path))
    with proc:
        yield base


def window() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": (today - timedelta(days=7)).strftime("%d.%m.%Y"), "end": today.strftime("%d.%m.%Y")}


def page_through(http: httpx.Client, key: str, *, limit_is_index: bool, size: int = 100) -> tuple[list[str], int]:
    seen: list[str] = []
    offset, total = 0, -1
    while total < 0 or offset < total:
        limit = offset + size if limit_is_index else size
        response = http.post(
            "/v2/invoice/merchant/list",
            headers={"Authorization": f"Token {key}"},
            json={**window(), "offset": offset, "limit": limit},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["all_count"]
        assert body["result"], f"empty page at offset {offset} of {total}"
        seen.extend(r["uuid"] for r in body["result"])
        offset += len(body["result"])
    return seen, total


def test_paging_over_real_http_in_both_readings(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        docs, total = page_through(http, "key-docs", limit_is_index=True)
        assert total == 437
        assert len(docs) == 437 == len(set(docs))
        clients, total = page_through(http, "key-clients", limit_is_index=False, size=37)
        assert total == 305
        assert len(clients) == 305 == len(set(clients))
        # a page-size client against the documented reading gets an empty second page: the trap
        trap = http.post(
            "/v2/invoice/merchant/list",
            headers={"Authorization": "Token key-docs"},
            json={**window(), "offset": 100, "limit": 100},
        )
        assert trap.json()["result"] == []
        assert trap.json()["all_count"] == 437
        accounts = http.get("/_sandbox/accounts").json()["accounts"]
        assert {a["name"]: a["invoices"] for a in accounts} == {"docs": 437, "clients": 305, "pay": 40, "crm": 12}
        simplepay = http.get("/invoice", params={"v": 2}, headers={"Authorization": "Bearer sp"})
        assert len(simplepay.json()) == 40
        token = http.post("/api/v1/subscriber/Login", json={"username": "bob", "password": "builder"}).json()["token"]
        crm = http.get("/api/v1/subscriber/getCustomersInvoices", headers={"Authorization": f"Bearer {token}"})
        assert len(crm.json()["data"]) == 12


def test_same_accounts_file_same_invoices(served: str, accounts_file: Path) -> None:
    def ids(http: httpx.Client, base: str, name: str) -> list[str]:
        return [i["id"] for i in http.get(f"{base}/_sandbox/accounts/{name}/invoices").json()["invoices"]]

    same, same_base = start("--accounts", str(accounts_file))
    with same:
        reseeded, reseeded_base = start("--accounts", str(accounts_file), "--seed", "5")
        with reseeded, httpx.Client(timeout=10) as http:
            for name in ("docs", "pay", "crm"):
                mine = ids(http, served, name)
                assert mine
                assert mine == ids(http, same_base, name)
            # --seed seeds the tables that set none (pay); a table's own seed (docs) wins
            assert ids(http, reseeded_base, "docs") == ids(http, served, "docs")
            assert ids(http, reseeded_base, "pay") != ids(http, served, "pay")


def test_bad_accounts_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[accounts.x]\nprovider = "cryptocloud"\n')  # no api_key
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", str(free_port()), "--accounts", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "accounts.x" in result.stderr
    assert "api_key" in result.stderr


def _statuses(http: httpx.Client, base: str, name: str) -> dict[str, Any]:
    return {i["id"]: i["status"] for i in http.get(f"{base}/_sandbox/accounts/{name}/invoices").json()["invoices"]}


def test_churn_changes_invoices_over_time(accounts_file: Path) -> None:
    proc, base = start("--accounts", str(accounts_file), "--churn", "0.1", "--seed", "3")
    with proc, httpx.Client(timeout=10) as http:
        before = {name: _statuses(http, base, name) for name in ("docs", "pay", "crm")}

        def all_moved() -> bool:
            return all(_statuses(http, base, name) != before[name] for name in before)

        wait_until(all_moved, timeout=20, what="churn in every account")


async def test_churn_sends_live_callbacks(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "live.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [accounts.live]
            provider = "cryptocloud"
            api_key = "live"
            secret_key = "{CC_SECRET}"
            callback_url = "{receiver.url}"
            callback_scheme = "form"
            count = 30
            """
        )
    )
    proc, _ = start("--accounts", str(path), "--churn", "0.05")
    with proc:

        async def postback() -> bool:
            return bool(receiver.requests)

        await await_until(postback, timeout=20, what="a churn postback")
    form = httpx.QueryParams(receiver.requests[0].body.decode())
    claims = jwt.decode(form["token"], CC_SECRET, algorithms=["HS256"])
    assert claims["id"] == "INV-" + form["invoice_id"]
    assert json.loads(form["invoice_info"])["status"] in {"paid", "partial", "overpaid"}
