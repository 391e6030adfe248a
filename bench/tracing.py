"""Tracing's cost: the ingest and end-to-end scenarios with tracing on (exporting over OTLP/HTTP to a receiver
in this process) beside tracing off, in the same run. Ingest alternates rounds off, on (every trace recorded: the SDK's default sampler) and on with a tenth of traces
sampled, against one Redis;
the end-to-end run is the `e2e` scenario's, once each way.

`python -m bench.tracing [--quick]`
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench import e2e
from bench.common import accounts_file, median
from bench.ingest import ACCOUNTS, QUIET, loadgen, postback, wrk
from tests.support.otlp import otlp_receiver
from tests.support.procs import Proc, Valkey, free_port
from tests.support.relay import web_command


def tracing_env(endpoint: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "1000"}


#: The README's advice for high callback rates: a tenth of traces recorded.
SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


def ingest_rps(env: dict[str, str], body_file: Path, duration: int) -> float:
    port = free_port()
    proc = Proc(web_command(port, *QUIET), env=env, name="web").start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz")
        url = f"http://127.0.0.1:{port}/webhooks/shop"
        if shutil.which("wrk"):
            return wrk(url, body_file, duration)
        return loadgen(url, body_file, duration, connections=32)["rps"]
    finally:
        proc.stop()


def run(quick: bool = False) -> dict[str, object]:
    rounds, duration = (2, 4) if quick else (3, 10)
    body_file = Path(tempfile.mkdtemp(prefix="relay-bench-")) / "postback.json"
    body_file.write_bytes(postback())
    samples: dict[str, list[float]] = {"off_rps": [], "on_rps": [], "sampled_rps": []}
    with otlp_receiver() as receiver, Valkey() as redis:
        base = {
            "REDIS_URL": redis.url,
            "RELAY_ACCOUNTS_FILE": str(accounts_file(ACCOUNTS)),
            "RELAY_LOG_LEVEL": "WARNING",
        }
        for _ in range(rounds):
            samples["off_rps"].append(ingest_rps(base, body_file, duration))
            samples["on_rps"].append(ingest_rps({**base, **tracing_env(receiver.endpoint)}, body_file, duration))
            sampled = {**base, **tracing_env(receiver.endpoint), **SAMPLED}
            samples["sampled_rps"].append(ingest_rps(sampled, body_file, duration))
        ingest_spans = len(receiver.snapshot())
        e2e_seconds = 10.0 if quick else 20.0
        off = e2e.run(quick, duration=e2e_seconds)
        on = e2e.run(quick, env=tracing_env(receiver.endpoint), duration=e2e_seconds)
        exported = len(receiver.snapshot()) - ingest_spans
    off_rps, on_rps = median(samples["off_rps"]), median(samples["on_rps"])
    sampled_rps = median(samples["sampled_rps"])
    return {
        "ingest_rps_off": off_rps,
        "ingest_rps_on": on_rps,
        "ingest_ratio": round(on_rps / off_rps, 3),
        "ingest_rps_sampled": sampled_rps,
        "ingest_ratio_sampled": round(sampled_rps / off_rps, 3),
        "ingest_spans_exported": ingest_spans,
        "e2e_p95_ms": on["p95_ms"],
        "e2e_p50_ms": on["p50_ms"],
        "e2e_missing": on["missing"],
        "e2e_p95_off_ms": off["p95_ms"],
        "e2e_spans_exported": exported,
        "rounds": rounds,
        "samples": samples,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
