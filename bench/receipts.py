"""A subscriber for the end-to-end benchmark: records when each invoice's event first arrives.

`python -m bench.receipts PORT`; `GET /receipts` -> {invoice key: unix time of first receipt}.
"""

from __future__ import annotations

import sys
import time

import orjson
from aiohttp import web

_first: dict[str, float] = {}


async def receive(request: web.Request) -> web.Response:
    arrived = time.time()
    event = orjson.loads(await request.read())
    _first.setdefault(event["data"]["invoice"]["key"], arrived)
    return web.Response(text="ok")


async def receipts(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(_first), content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/receipts", receipts)
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
