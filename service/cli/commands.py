"""The commands that call the operator API. Each takes the parsed arguments, the API, and the output and error
streams, and returns the exit code."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn, TextIO

from service.cli.api import Api, ApiError, EventReader, Unreachable, segment
from service.cli.output import dash, event_line, print_fields, print_json, print_table

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

SUBSCRIPTION_FIELDS = ("id", "url", "enabled", "event_types", "accounts", "description", "created_at")

Command = Callable[[argparse.Namespace, Api, TextIO, TextIO], int]


def usage_error(args: argparse.Namespace, err: TextIO, message: str) -> int:
    """A command line the parser let through but the command cannot use, reported as argparse reports its own."""
    parser: argparse.ArgumentParser = args.parser
    parser.print_usage(err)
    print(f"{parser.prog}: error: {message}", file=err)
    return EXIT_USAGE


def cmd_accounts(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    body = api.call("GET", "/accounts")
    if args.json:
        print_json(out, body)
        return EXIT_OK
    rows = [
        (a["name"], a["provider"], a["last_sync_at"], a["last_sync_status"], a["invoices"], a["last_error"])
        for a in body["accounts"]
    ]
    print_table(out, ("NAME", "PROVIDER", "LAST SYNC", "STATUS", "INVOICES", "ERROR"), rows)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    path = "/sync" if args.account is None else f"/accounts/{segment(args.account)}/sync"
    body = api.call("POST", path)
    if args.json:
        print_json(out, body)
    else:
        print(f"sync queued: {', '.join(body.get('accounts', [])) or 'no accounts'}", file=out)
    return EXIT_OK


class FollowStopped(BaseException):
    """SIGINT or SIGTERM while following the log (a BaseException, as KeyboardInterrupt is: no `except
    Exception` on the way swallows it)."""


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Within: SIGINT (Ctrl-C) and SIGTERM (a supervisor, `timeout`, `kill`) raise FollowStopped. A signal that
    whoever started the command ignores stays ignored (a non-interactive shell's background job ignores
    SIGINT: SIGTERM still stops it). Outside the main thread, where Python cannot set handlers, nothing
    changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise FollowStopped

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_events(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    if args.action is not None and args.action != "show":
        return usage_error(args, err, f"unexpected {args.action!r}: did you mean `events show {args.action}`?")
    if args.action == "show":
        if args.event_id is None:
            return usage_error(args, err, "events show needs an event id")
        if args.follow:
            return usage_error(args, err, "events show prints one event: --follow does not apply")
        print_json(out, api.call("GET", f"/events/{segment(args.event_id)}"))
        return EXIT_OK
    reader = EventReader(api, account=args.account, event_type=args.type)

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event, ensure_ascii=False) if args.json else event_line(event), file=out, flush=True)

    for event in deque(reader.poll(), maxlen=args.limit):
        show(event)
    if not args.follow:
        return EXIT_OK
    # Following rides out a restart of the web process or a Redis outage (503): it says so once, and goes on.
    # It ends when told to, by SIGINT or SIGTERM: its normal end (exit 0).
    try:
        with stopped_by_signals():
            return _follow(args, reader, show, err)
    except (FollowStopped, KeyboardInterrupt):
        return EXIT_OK


def _follow(
    args: argparse.Namespace, reader: EventReader, show: Callable[[dict[str, Any]], None], err: TextIO
) -> NoReturn:
    outage: str | None = None
    while True:
        time.sleep(args.interval)
        try:
            for event in reader.poll():
                show(event)
        except (Unreachable, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.status != 503:
                raise
            if outage is None:
                print(f"relay: {exc}; still following", file=err, flush=True)
            outage = str(exc)
            continue
        if outage is not None:
            print("relay: the relay answers again", file=err, flush=True)
            outage = None


def cmd_subscriptions_list(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    body = api.call("GET", "/subscriptions")
    if args.json:
        print_json(out, body)
        return EXIT_OK
    rows = [
        (s["id"], s["enabled"], s["url"], s["event_types"], s["accounts"], s.get("description"))
        for s in body["subscriptions"]
    ]
    print_table(out, ("ID", "ENABLED", "URL", "EVENT TYPES", "ACCOUNTS", "DESCRIPTION"), rows)
    return EXIT_OK


def _show_subscription(args: argparse.Namespace, out: TextIO, body: dict[str, Any]) -> None:
    if args.json:
        print_json(out, body)
    else:
        print_fields(out, body, SUBSCRIPTION_FIELDS)


def cmd_subscriptions_create(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    document: dict[str, Any] = {"url": args.target}
    if args.event_types:
        document["event_types"] = args.event_types
    if args.accounts:
        document["accounts"] = args.accounts
    if args.description is not None:
        document["description"] = args.description
    body = api.call("POST", "/subscriptions", body=document)
    if args.json:
        print_json(out, body)
    else:
        print_fields(out, body, (*SUBSCRIPTION_FIELDS, "secret"))
        print("The secret is shown only now: store it where the subscriber can read it.", file=err)
    return EXIT_OK


def cmd_subscriptions_show(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    _show_subscription(args, out, api.call("GET", f"/subscriptions/{segment(args.id)}"))
    return EXIT_OK


def cmd_subscriptions_update(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    document: dict[str, Any] = {}
    if args.target is not None:
        document["url"] = args.target
    if args.event_types:
        document["event_types"] = args.event_types
    if args.accounts:
        document["accounts"] = args.accounts
    if args.description is not None:
        document["description"] = args.description
    if args.enabled is not None:
        document["enabled"] = args.enabled
    if not document:
        return usage_error(
            args, err, "nothing to change: give --url, --event-type, --account, --description, --enable or --disable"
        )
    _show_subscription(args, out, api.call("PATCH", f"/subscriptions/{segment(args.id)}", body=document))
    return EXIT_OK


def cmd_subscriptions_delete(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    api.call("DELETE", f"/subscriptions/{segment(args.id)}")
    if args.json:
        print_json(out, {"deleted": args.id})
    else:
        print(f"deleted {args.id}", file=out)
    return EXIT_OK


def cmd_subscriptions_rotate(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    body = api.call("POST", f"/subscriptions/{segment(args.id)}/rotate-secret")
    if args.json:
        print_json(out, body)
    else:
        print_fields(out, body, ("id", "secret", "previous_secret_expires_at"))
        print(
            "The new secret is shown only now; the previous one keeps signing beside it until "
            f"{dash(body.get('previous_secret_expires_at'))}.",
            file=err,
        )
    return EXIT_OK


def cmd_deliveries(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    params = {"status": args.status, "limit": args.limit}
    body = api.call("GET", f"/subscriptions/{segment(args.id)}/deliveries", params=params)
    if args.json:
        print_json(out, body)
        return EXIT_OK
    rows = []
    for delivery in body["deliveries"]:
        attempts = delivery.get("attempts") or []
        last = attempts[-1] if attempts else {}
        rows.append(
            (
                delivery["event_id"],
                delivery["status"],
                len(attempts),
                last.get("at"),
                last.get("status_code"),
                last.get("error"),
            )
        )
    print_table(out, ("EVENT", "STATUS", "ATTEMPTS", "LAST ATTEMPT", "CODE", "ERROR"), rows)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    document = {"since": args.since} if args.since is not None else {"event_ids": args.event_ids}
    body = api.call("POST", f"/subscriptions/{segment(args.id)}/replay", body=document)
    if args.json:
        print_json(out, body)
    else:
        print(f"queued {body['queued']} deliveries to {args.id}", file=out)
    unknown = body.get("unknown") or []
    if unknown:
        print(f"relay: not in the event log: {', '.join(unknown)}", file=err)
        return EXIT_REFUSED
    return EXIT_OK
