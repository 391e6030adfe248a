"""A Redis that cannot be reached (a wrong REDIS_URL, an outage): web and worker processes say so in their
logs at once, with where they try (never the password), and keep trying further apart."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.procs import Proc, free_port
from tests.support.relay import ADMIN_TOKEN, web_command
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

PASSWORD = "redis-password-never-logged-0123"
ACCOUNTS = """
[accounts.shop]
provider = "cryptocloud"
api_key = "cc-api-key-0123456789"
secret_key = "cc-secret-key-0123456789-abcdef"
"""


def failures(proc: Proc) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "redis_connection_failed"]


@pytest.mark.parametrize("process", ["worker", "web"])
def test_a_closed_redis_port_is_logged_within_seconds(tmp_path: object, process: str) -> None:
    accounts = f"{tmp_path}/accounts.toml"
    with open(accounts, "w") as file:
        file.write(ACCOUNTS)
    port = free_port()  # nothing listens there
    env = {
        "REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        "RELAY_ACCOUNTS_FILE": accounts,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_LOG_FORMAT": "json",
    }
    if process == "worker":
        argv = [sys.executable, "-m", "arq", "workers.settings.WorkerSettings"]
    else:
        argv = web_command(free_port())
    with Proc(argv, env=env, name=process) as proc:
        found = wait_until(lambda: failures(proc), timeout=5, interval=0.1, what=f"a logged failure of the {process}")
        assert found[0]["redis"] == f"redis://127.0.0.1:{port}/0"
        assert "refused" in str(found[0]["error"]).lower()
        assert found[0]["level"] == "warning"
        # It keeps trying, and logs again.
        wait_until(lambda: len(failures(proc)) >= 2, timeout=10, interval=0.1, what="a second logged failure")
        assert proc.alive()
    assert PASSWORD not in proc.log()
