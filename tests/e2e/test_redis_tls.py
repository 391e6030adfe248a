"""Redis over TLS, as a managed Redis offers it: web and worker processes both reach a TLS-only Redis with a
self-signed certificate through `rediss://...?ssl_cert_reqs=none`, and a trigger makes the worker sync."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.conftest import account_table, create_sandbox_account
from tests.support.procs import Proc, free_port
from tests.support.relay import Sandbox, relay_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

REDIS_SERVER = "/usr/bin/redis-server"


def tls_redis_missing() -> str | None:
    """Why a TLS Redis cannot run here, or None when it can."""
    if shutil.which(REDIS_SERVER) is None:
        return f"{REDIS_SERVER} is not installed"
    version = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True, check=False).stdout
    if "v=" not in version:
        return f"{REDIS_SERVER} --version said {version!r}"
    return None


class TlsRedis(Proc):
    """Debian's redis-server on a TLS port only, with a certificate signed by a CA made for the test."""

    def __init__(self, folder: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(folder / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
        ca.cert_pem.write_to_path(str(folder / "ca.pem"))
        self.port = free_port()
        argv = [
            REDIS_SERVER,
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(folder / "cert.pem"),
            "--tls-key-file", str(folder / "key.pem"),
            "--tls-ca-cert-file", str(folder / "ca.pem"),
            "--tls-auth-clients", "no",
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(folder),
        ]  # fmt: skip
        super().__init__(argv, name=f"redis-tls-{self.port}")

    def start(self) -> TlsRedis:
        super().start()

        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"redis-server exited:\n{self.log()[-2000:]}")
            return "Ready to accept connections" in self.log()

        wait_until(ready, timeout=10, what=f"redis-server with TLS on port {self.port}")
        return self


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    missing = tls_redis_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a TLS Redis is required in CI: {missing}")
        pytest.skip(missing)
    with TlsRedis(tmp_path).start() as server:
        yield server


def test_web_and_worker_sync_over_tls_with_a_self_signed_certificate(sandbox: Sandbox, tls_redis: TlsRedis) -> None:
    create_sandbox_account(sandbox, "tls-cc", "cryptocloud", count=3)
    url = f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_cert_reqs=none"
    with relay_stack(url, account_table("tls-cc", "cryptocloud", sandbox.url)) as relay:
        assert relay.trigger("tls-cc").status_code == 202
        row = relay.wait_synced("tls-cc")
        assert row["last_sync_status"] == "ok", row
        assert len(relay.events(account="tls-cc")) == 3
        # arq's own health check reads the worker's heartbeat over the same TLS connection settings.
        check = subprocess.run(
            [sys.executable, "-m", "arq", "workers.settings.WorkerSettings", "--check"],
            env={**relay.env, "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
