"""The bundled load generator, a separate process: closed-loop (max throughput over N connections) or
open-loop at a fixed rate, where each request's latency counts from its *scheduled* send time, so a slow
server cannot hide its queueing by slowing the generator down (coordinated omission).

`python -m bench.loadgen URL --body-file F [--header K:V ...] --duration S (--connections N | --rate R)`
prints one JSON object: requests, rps, p50_ms, p99_ms, errors, non_2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import orjson


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.non_2xx = 0

    async def send(
        self, session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], since: float
    ) -> None:
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    self.non_2xx += 1
        except (aiohttp.ClientError, OSError):
            self.errors += 1
            return
        self.latencies.append((time.perf_counter() - since) * 1000)


async def closed_loop(
    url: str, body: bytes, headers: dict[str, str], duration: float, connections: int
) -> tuple[Tally, float]:
    tally = Tally()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        end = time.perf_counter() + duration

        async def worker() -> None:
            while time.perf_counter() < end:
                await tally.send(session, url, body, headers, time.perf_counter())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return tally, time.perf_counter() - started


async def open_loop(
    url: str, body: bytes, headers: dict[str, str], duration: float, rate: float
) -> tuple[Tally, float]:
    tally = Tally()
    total = int(duration * rate)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
        started = time.perf_counter()
        tasks = []
        for n in range(total):
            scheduled = started + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(tally.send(session, url, body, headers, scheduled)))
        await asyncio.gather(*tasks)
        return tally, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--duration", type=float, default=5.0)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--connections", type=int)
    mode.add_argument("--rate", type=float)
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    body = args.body_file.read_bytes()
    if args.rate:
        tally, elapsed = asyncio.run(open_loop(args.url, body, headers, args.duration, args.rate))
    else:
        tally, elapsed = asyncio.run(closed_loop(args.url, body, headers, args.duration, args.connections))
    result = {
        "requests": len(tally.latencies),
        "rps": round(len(tally.latencies) / elapsed, 1),
        "p50_ms": round(percentile(tally.latencies, 0.50), 3),
        "p99_ms": round(percentile(tally.latencies, 0.99), 3),
        "errors": tally.errors,
        "non_2xx": tally.non_2xx,
    }
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
