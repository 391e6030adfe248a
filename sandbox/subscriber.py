"""A sample subscriber: registers itself with the relay, verifies every delivery, prints it readably.

`python -m sandbox.subscriber --port 8200 --relay http://127.0.0.1:8000 [--token ADMIN_TOKEN] [--state FILE]`

The token defaults to RELAY_ADMIN_TOKEN. With `--state`, the subscription's id and secret are kept in FILE, and
a restart goes on with that subscription while the relay still has it (a new one otherwise): one subscription
however often the subscriber starts.

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
import os
import sys
import time
from pathlib import Path
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

    async def register(self, relay: str, token: str, url: str, state: Path | None) -> None:
        """Go on with the subscription kept in `state` while the relay has it, or subscribe anew (and keep that
        one); retried until the relay's web process answers."""
        headers = {"authorization": f"Bearer {token}"}
        kept = read_state(state)
        if kept is not None:
            # Deliveries that were waiting for this subscriber verify from the first one on.
            self.secret = kept["secret"]
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                try:
                    if kept is not None:
                        found = await self._still_there(session, relay, url, kept["id"])
                        if found:
                            return
                        if found is False:
                            kept = None
                    if kept is None and await self._subscribe(session, relay, url, state):
                        return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(1)

    async def _still_there(self, session: aiohttp.ClientSession, relay: str, url: str, sub_id: str) -> bool | None:
        """True when the relay still has the kept subscription, False when it is gone, None: ask again."""
        async with session.get(f"{relay}/subscriptions/{sub_id}") as response:
            if response.status == 200 and (found := await response.json())["url"] == url:
                note = "" if found["enabled"] else f" (disabled: relay subscriptions update {sub_id} --enable)"
                print(
                    f"subscriber: goes on with {sub_id} at {relay} as {url}{note}; verifying every delivery", flush=True
                )
                return True
            if response.status in (200, 404):
                print(f"subscriber: {sub_id} is no longer at the relay; subscribing again", flush=True)
                return False
            print(f"subscriber: the relay answered {response.status}: {await response.text()}", flush=True)
            return None

    async def _subscribe(self, session: aiohttp.ClientSession, relay: str, url: str, state: Path | None) -> bool:
        body = {"url": url, "description": "make run: sample subscriber"}
        async with session.post(f"{relay}/subscriptions", json=body) as response:
            if response.status != 201:
                print(f"subscriber: the relay answered {response.status}: {await response.text()}", flush=True)
                return False
            created = await response.json()
        if state is not None:
            write_state(state, {"id": created["id"], "secret": created["secret"]})
        self.secret = created["secret"]
        print(f"subscriber: subscribed {created['id']} at {relay} as {url}; verifying every delivery", flush=True)
        return True


def read_state(path: Path | None) -> dict[str, str] | None:
    """The kept subscription's id and secret; None when there is none (or the file is not one this wrote)."""
    if path is None:
        return None
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(kept, dict) and isinstance(kept.get("id"), str) and isinstance(kept.get("secret"), str):
        return {"id": kept["id"], "secret": kept["secret"]}
    return None


def write_state(path: Path, kept: dict[str, str]) -> None:
    """Replace the file whole (a crash leaves the old one or the new one) and readable by its owner only."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(kept, file)
    partial.replace(path)


async def serve(port: int, relay: str, token: str, state: Path | None) -> None:
    subscriber = Subscriber()
    app = web.Application()
    app.router.add_post("/events", subscriber.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await subscriber.register(relay, token, f"http://127.0.0.1:{port}/events", state)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.subscriber", description=__doc__)
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--relay", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("RELAY_ADMIN_TOKEN"), help="default: RELAY_ADMIN_TOKEN")
    parser.add_argument("--state", type=Path, help="keep the subscription's id and secret here, and reuse them")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set RELAY_ADMIN_TOKEN")
    try:
        asyncio.run(serve(args.port, args.relay, args.token, args.state))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
