"""A Redis that stops answering (SIGSTOP: no reset, no refusal, silence), with a real web process: 503
promptly for as long as the pause lasts, and back to work by itself when Redis is."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import account_table, create_sandbox_account
from tests.support.procs import Valkey
from tests.support.relay import Sandbox, relay_stack, sandbox_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

#: Past 30 s: a periodic connection health check once made requests hang after the first ~26 s of a pause.
PAUSE_S = 35


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_process() as running:
        yield running


def test_a_paused_redis_gets_503_promptly_for_as_long_as_it_lasts(sandbox: Sandbox) -> None:
    create_sandbox_account(sandbox, "paused", "cryptocloud", count=1)
    toml = account_table("paused", "cryptocloud", sandbox.url)
    redis = Valkey().start()
    try:
        with relay_stack(redis.url, toml, workers=0) as relay:
            assert relay.trigger("paused").status_code == 202
            redis.signal(signal.SIGSTOP)
            try:
                answers = []
                ends = time.monotonic() + PAUSE_S
                while time.monotonic() < ends:
                    started = time.monotonic()
                    try:
                        status: int | None = relay.http.post("/accounts/paused/sync", timeout=10).status_code
                    except httpx.TimeoutException:
                        status = None
                    answers.append((round(time.monotonic() - started, 2), status))
                    assert relay.http.get("/healthz").status_code == 200
            finally:
                redis.signal(signal.SIGCONT)
            assert {status for _, status in answers} == {503}, answers
            assert max(took for took, _ in answers) < 3, answers
            wait_until(lambda: relay.http.post("/accounts/paused/sync").status_code == 202, timeout=10, what="202")
            assert relay.http.get("/readyz").status_code == 200
    finally:
        redis.stop()
