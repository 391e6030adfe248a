"""The delivery ceiling: a raw aiohttp POST loop, no signing, no bookkeeping, same body and concurrency.

`python -m bench.raw_post URL COUNT CONCURRENCY BODY_BYTES` prints `{"rps": ...}` as JSON.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import orjson


async def run(url: str, total: int, concurrency: int, body: bytes) -> float:
    remaining = total
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


def main() -> None:
    url, total, concurrency, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rps = asyncio.run(run(url, total, concurrency, b"x" * size))
    sys.stdout.write(orjson.dumps({"rps": rps}).decode() + "\n")


if __name__ == "__main__":
    main()
