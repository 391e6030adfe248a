"""Shared benchmark plumbing: real processes (Valkey, sink, relay) and medians."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.procs import Proc, free_port, python_module
from tests.support.relay import procfile_command
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def start_sink() -> tuple[Proc, str]:
    port = free_port()
    sink = python_module("bench.sink", str(port), name="sink").start()
    sink.wait_http(f"http://127.0.0.1:{port}/count")
    return sink, f"http://127.0.0.1:{port}"


def sink_count(sink_url: str) -> int:
    return int(httpx.get(f"{sink_url}/count", timeout=10).json()["count"])


def accounts_file(text: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="relay-bench-")) / "accounts.toml"
    path.write_text(text)
    return path


def worker(env: dict[str, str]) -> Proc:
    return Proc(procfile_command("worker"), env=env, name="worker").start()


def wait_count(sink_url: str, total: int, timeout: float) -> tuple[float, float]:
    """Poll the sink until it counted `total`; returns (when it first counted more than before, when done)."""
    first: float | None = None

    def done() -> bool:
        nonlocal first
        seen = sink_count(sink_url)
        if seen and first is None:
            first = time.perf_counter()
        return seen >= total

    wait_until(done, timeout=timeout, interval=0.01, what=f"{total} requests at the sink")
    assert first is not None
    return first, time.perf_counter()
