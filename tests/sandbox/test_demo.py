"""`make run` (`python -m sandbox.demo`) as real processes: started, stopped and started again on its data folder,
refused on a port in use, and the port-holder lookup it names the culprit with."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import demo
from sandbox.ports import holder, listening_inodes, port_free
from tests.support.procs import ROOT, Proc, free_port
from tests.support.waiting import wait_until

RELAY = Path(sys.executable).parent / "relay"
STARTUP_S = 60.0


def free_base() -> int:
    """A web port whose three next hundreds are free too."""
    while True:
        port = free_port()
        if port + 300 < 65536 and all(port_free(port + offset) for offset in (100, 200, 300)):
            return port


def demo_environment(port: int, data: Path) -> dict[str, str]:
    """The test run's environment without its Redis or relay settings: the demo brings its own."""
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("RELAY_")}
    return environ | {"PORT": str(port), "RELAY_DATA_DIR": str(data)}


def start_demo(port: int, data: Path, *args: str) -> Proc:
    proc = Proc([sys.executable, "-m", "sandbox.demo", *args], name=f"demo-{port}")
    proc.env = demo_environment(port, data)
    return proc.start()


def stop_demo(proc: Proc, sig: int) -> None:
    """Stop it as a terminal's Ctrl-C (SIGINT) or a supervisor (SIGTERM) would, and see every process go."""
    proc.signal(sig)
    assert proc.popen is not None
    try:
        proc.popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the demo did not stop on signal {sig}:\n{proc.log()[-4000:]}") from None


@pytest.fixture
def demos() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop(timeout=30)


def sourced(env_file: Path) -> dict[str, str]:
    """The variables `. env_file` exports, as a shell reads them."""
    result = subprocess.run(
        ["/bin/sh", "-c", f". {shlex.quote(str(env_file))} && env -0"],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        check=True,
        timeout=10,
    )
    pairs = (item.decode().partition("=") for item in result.stdout.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def subscriptions(settings: dict[str, str]) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{settings['RELAY_URL']}/subscriptions",
        headers={"authorization": f"Bearer {settings['RELAY_ADMIN_TOKEN']}"},
        timeout=5,
    )
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["subscriptions"]
    return found


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net writes them) that sockets listen on with this port."""
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path("/proc/net", table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, port_hex = fields[1].rpartition(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_the_demo_started_again_goes_on_with_its_subscription_and_reset_starts_afresh(
    tmp_path: Path, demos: list[Proc]
) -> None:
    port = free_base()
    folder = tmp_path / str(port)

    first = start_demo(port, tmp_path)
    demos.append(first)
    wait_until(
        lambda: "subscriber: subscribed sub_" in first.log() and "signature ok" in first.log(),
        timeout=STARTUP_S,
        what="the first run's subscription and a verified delivery",
    )
    settings = sourced(folder / "env")
    assert settings["RELAY_URL"] == f"http://127.0.0.1:{port}"
    assert len(settings["RELAY_ADMIN_TOKEN"]) >= 32
    # The banner names the console, which the web serves (a visitor not signed in is sent to sign in).
    assert f"console: http://127.0.0.1:{port}/console " in first.log()
    console = httpx.get(f"http://127.0.0.1:{port}/console", timeout=10)
    assert (console.status_code, console.headers["location"]) == (303, "/console/sign-in")
    (subscription,) = subscriptions(settings)
    # Everything listens on loopback only.
    for offset in (0, 100, 200, 300):
        assert listening_addresses(port + offset) == {"0100007F"}, f"port {port + offset}"
    # `relay check`, as the banner prints it, validates the running demo's configuration.
    check = subprocess.run(
        ["/bin/sh", "-c", f". {shlex.quote(str(folder / 'env'))} && {shlex.quote(str(RELAY))} check"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (check.returncode, check.stderr) == (0, ""), check.stdout
    assert check.stdout.startswith("configuration ok: 4 account(s)")
    stop_demo(first, signal.SIGINT)

    second = start_demo(port, tmp_path)
    demos.append(second)
    wait_until(
        lambda: (
            f"subscriber: goes on with {subscription['id']}" in second.log()
            and "signature ok" in second.log().partition("goes on with")[2]
        ),
        timeout=STARTUP_S,
        what="the second run going on with the subscription and a verified delivery",
    )
    assert [s["id"] for s in subscriptions(settings)] == [subscription["id"]]
    assert "REJECTED" not in second.log()
    stop_demo(second, signal.SIGTERM)

    third = start_demo(port, tmp_path, "--reset")
    demos.append(third)
    wait_until(
        lambda: "subscriber: subscribed sub_" in third.log(), timeout=STARTUP_S, what="a new subscription after --reset"
    )
    settings_after_reset = sourced(folder / "env")
    assert settings_after_reset["RELAY_ADMIN_TOKEN"] != settings["RELAY_ADMIN_TOKEN"]
    (renewed,) = subscriptions(settings_after_reset)
    assert renewed["id"] != subscription["id"]
    stop_demo(third, signal.SIGTERM)


def test_a_port_in_use_stops_the_demo_before_anything_starts_and_names_its_holder(tmp_path: Path) -> None:
    port = free_base()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port + 100))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "sandbox.demo"],
            env=demo_environment(port, tmp_path),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith(f"demo: port {port + 100} (providers) is in use by pid {os.getpid()} (")
    assert "pytest" in first_line or "python" in first_line
    assert "PORT=" in result.stderr
    assert not (tmp_path / str(port)).exists(), "nothing is written before the ports are known to be free"


def test_the_holder_of_a_listening_port_is_this_process() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.bind(("::", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert listening_inodes(port)
        assert holder(port).startswith(f"pid {os.getpid()} (")
        assert not port_free(port)
    assert port_free(port)


def test_without_proc_the_holder_is_another_process(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert holder(taken.getsockname()[1], proc=tmp_path) == "another process"


def test_the_demo_binds_the_web_to_loopback_whatever_the_procfile_says() -> None:
    web = demo.procfile_lines()["web"]
    assert "--host 127.0.0.1" in web
    assert "0.0.0.0" not in web
