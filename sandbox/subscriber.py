"""A sample subscriber: registers itself with the relay, verifies every delivery, prints it readably.

`python -m sandbox.subscriber --port 8200 --relay http://127.0.0.1:8000 --token ADMIN_TOKEN`

The verification below is the whole of Standard Webhooks; any library for it (`standardwebhooks`, `svix`)
does the same. Copy it, or use one of those.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

TOLERANCE_S = 300


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """True when one of the `webhook-signature` entries matches and the timestamp is recent."""
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(expected, candidate.removeprefix("v1,").encode())
        for candidate in headers.get("webhook-signature", "").split(" ")
        if candidate.startswith("v1,")
    )


def describe(event: dict[str, Any]) -> str:
    data = event["data"]
    invoice = data["invoice"]
    previous = data["previous_status"] or "new"
    paid = f" paid {invoice['amount_paid']}" if invoice.get("amount_paid") not in (None, invoice["amount"]) else ""
    return (
        f"{time.strftime('%H:%M:%S')}  {event['type']:<22} {invoice['key']:<46} "
        f"{invoice['amount']:>10} {invoice['currency']:<5}{paid}  {previous} -> {invoice['status']}"
        f"  ({invoice['provider']}, seq {data['sequence']})"
    )


class Subscriber:
    def __init__(self) -> None:
        self.secret = ""
        self.received = 0

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.secret or not verify(self.secret, request.headers, body):
            print(f"{time.strftime('%H:%M:%S')}  REJECTED a delivery with a bad signature", flush=True)
            return web.Response(status=401)
        self.received += 1
        print(describe(json.loads(body)) + "  signature ok", flush=True)
        return web.Response(status=204)

    async def register(self, relay: str, token: str, url: str) -> None:
        """Subscribe to everything; retried until the relay's web process answers."""
        headers = {"authorization": f"Bearer {token}"}
        body = {"url": url, "description": "make run: sample subscriber"}
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.post(f"{relay}/subscriptions", json=body, headers=headers) as response:
                        if response.status == 201:
                            self.secret = (await response.json())["secret"]
                            print(f"subscriber: subscribed at {relay} as {url}; verifying every delivery", flush=True)
                            return
                        print(f"subscriber: the relay answered {response.status}: {await response.text()}", flush=True)
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(1)


async def serve(port: int, relay: str, token: str) -> None:
    subscriber = Subscriber()
    app = web.Application()
    app.router.add_post("/events", subscriber.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await subscriber.register(relay, token, f"http://127.0.0.1:{port}/events")
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.subscriber", description=__doc__)
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--relay", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.port, args.relay, args.token))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
