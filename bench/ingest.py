"""Ingest: signed CryptoCloud postbacks to one web process started as the Procfile's `web` line starts it,
beside a bare Starlette endpoint served by plain uvicorn (httptools: the ceiling). Throughput with wrk when
installed (else the bundled generator, closed loop, 32 connections); latency at a fixed 2,000 requests/s
with the bundled open-loop generator. Runs alternate relay and ceiling, and the medians are reported.

`python -m bench.ingest [--quick]`
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt

from bench.common import accounts_file, median
from tests.support.procs import Proc, Valkey, free_port
from tests.support.relay import web_command

SECRET = "bench-cryptocloud-secret-key-0123456789abcdef"
ACCOUNTS = f"""
[accounts.shop]
provider = "cryptocloud"
api_key = "bench-api-key"
secret_key = "{SECRET}"
base_url = "http://127.0.0.1:9"
poll_interval = 0
"""
#: uvicorn without its access log and below warnings, for the relay's web and the ceiling alike.
QUIET = ["--no-access-log", "--log-level", "warning"]


def postback() -> bytes:
    token = jwt.encode({"id": "INV-BENCH001", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    return json.dumps({"status": "success", "invoice_id": "BENCH001", "token": token}).encode()


def serve(relay: bool, env: dict[str, str]) -> tuple[Proc, str]:
    """The relay's web as deployed, or (`relay` False) the bare endpoint under plain uvicorn."""
    port = free_port()
    if relay:
        proc = Proc(web_command(port, *QUIET), env=env, name="web")
        proc.start().wait_http(f"http://127.0.0.1:{port}/healthz")
    else:
        argv = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port", str(port)]
        proc = Proc([*argv, *QUIET], env=env, name="ceiling")
        proc.start().wait_http(f"http://127.0.0.1:{port}/")
    return proc, f"http://127.0.0.1:{port}/webhooks/shop"


def wrk(url: str, body_file: Path, duration: int) -> float:
    script = body_file.with_suffix(".lua")
    body = body_file.read_text().replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n')
    output = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None or "Non-2xx" in output:
        raise RuntimeError(f"wrk failed or saw errors:\n{output}")
    return float(match.group(1))


def loadgen(url: str, body_file: Path, duration: float, **mode: float) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench.loadgen", url, "--body-file", str(body_file), "--duration", str(duration)]
    argv += ["--header", "content-type:application/json"]
    argv += [f"--{key}={value}" for key, value in mode.items()]
    result: dict[str, float] = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    if result["errors"] or result["non_2xx"]:
        raise RuntimeError(f"load generator saw failures: {result}")
    return result


def run(quick: bool = False) -> dict[str, object]:
    rounds, duration = (2, 4) if quick else (3, 10)
    body_file = Path(tempfile.mkdtemp(prefix="relay-bench-")) / "postback.json"
    body_file.write_bytes(postback())
    generator = "wrk" if shutil.which("wrk") else "bench.loadgen"
    samples: dict[str, list[float]] = {
        k: [] for k in ("rps", "ceiling_rps", "p50", "p99", "ceiling_p50", "ceiling_p99")
    }
    with Valkey() as redis:
        env = {
            "REDIS_URL": redis.url,
            "RELAY_ACCOUNTS_FILE": str(accounts_file(ACCOUNTS)),
            "RELAY_LOG_LEVEL": "WARNING",
        }
        for _ in range(rounds):
            for name, relay in (("", True), ("ceiling_", False)):
                proc, url = serve(relay, env)
                try:
                    if generator == "wrk":
                        rps = wrk(url, body_file, duration)
                    else:
                        rps = loadgen(url, body_file, duration, connections=32)["rps"]
                    fixed = loadgen(url, body_file, duration, rate=2000)
                finally:
                    proc.stop()
                samples[f"{name}rps"].append(rps)
                samples[f"{name}p50"].append(fixed["p50_ms"])
                samples[f"{name}p99"].append(fixed["p99_ms"])
    result = {
        "rps": median(samples["rps"]),
        "ceiling_rps": median(samples["ceiling_rps"]),
        "p50_ms": round(sorted(samples["p50"])[len(samples["p50"]) // 2], 2),
        "p99_ms": round(sorted(samples["p99"])[len(samples["p99"]) // 2], 2),
        "ceiling_p50_ms": round(sorted(samples["ceiling_p50"])[len(samples["ceiling_p50"]) // 2], 2),
        "ceiling_p99_ms": round(sorted(samples["ceiling_p99"])[len(samples["ceiling_p99"]) // 2], 2),
        "fixed_rate_rps": 2000,
        "generator": generator,
        "rounds": rounds,
        "samples": samples,
    }
    result["ratio"] = round(float(result["rps"]) / float(result["ceiling_rps"]), 3)  # type: ignore[arg-type]
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
