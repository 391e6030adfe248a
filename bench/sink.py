"""A subscriber for benchmarks: answers 200 to every POST and counts them; `GET /count` reads the count.

`python -m bench.sink PORT` (a separate process, so that its CPU is not the measured process's).
"""

from __future__ import annotations

import sys

from aiohttp import web

_count = 0


async def receive(request: web.Request) -> web.Response:
    global _count  # noqa: PLW0603 - one counter for one process
    await request.read()
    _count += 1
    return web.Response(text="ok")


async def count(request: web.Request) -> web.Response:
    return web.json_response({"count": _count})


def main() -> None:
    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
