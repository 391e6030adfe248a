"""`relay`: the operator's command line, a client of the operator API (`relay check` is the one local command).

    relay check                                   validate the configuration (like `python -m service.check`)
    relay accounts                                accounts and their last sync
    relay sync [ACCOUNT]                          queue a sync of one account, or of all
    relay events [--account A] [--type T] [--limit N] [--follow]
    relay subscriptions list | create URL ... | show ID | update ID ... | delete ID | rotate ID
    relay deliveries ID [--status S]
    relay replay ID (--since RFC3339 | --event-id E ...)

The API is at `--url` / `RELAY_URL` (default `http://127.0.0.1:${PORT:-8000}`), with the bearer token
`--token` / `RELAY_ADMIN_TOKEN`; these two go before the command (`relay --url http://relay:8000 accounts`), as
`subscriptions update ID --url U` is the subscriber's new URL. `--json` prints the API's answer instead of a table
(`events --json`: one event per line). Exit codes: 0 done; 1 the API refused (its `error` and `detail` are
printed) or, for `check`, the configuration is invalid; 2 the API cannot be reached, or the command line is wrong.
A subscription secret is printed only by `create` and `rotate`: the only time an operator sees it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, TextIO, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from service import check
from service.state.deliveries import STATUSES

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
EXIT_INTERRUPTED = 130
#: Rows per `GET /events` call while reading the log (the API's maximum).
EVENTS_PAGE = 1000


class ApiError(Exception):
    """The API answered with an error status; `error` and `detail` are its own words."""

    def __init__(self, status: int, error: str, detail: str | None) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        super().__init__(f"{error}: {detail}" if detail else error)


class Unreachable(Exception):
    """No answer from the API: refused, timed out, or not an HTTP server."""


def default_url(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("RELAY_URL") or f"http://127.0.0.1:{environ.get('PORT') or '8000'}"


def shown_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class Api:
    """The operator API over HTTP."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"user-agent": "relay-cli/0.1.0", "accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        try:
            response = self.http.request(
                method,
                self.url + path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            reason = str(exc) or type(exc).__name__
            raise Unreachable(f"cannot reach the relay at {shown_url(self.url)}: {reason}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(response.status_code, "bad_answer", "the answer is not JSON") from exc


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body.get("detail")
        return ApiError(response.status_code, body["error"], detail if isinstance(detail, str) else None)
    return ApiError(response.status_code, f"http_{response.status_code}", response.reason_phrase or None)


def segment(value: str) -> str:
    """One path segment, whatever the operator typed ("../sync" stays inside its segment)."""
    return quote(value, safe="")


# Output.


def dash(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


def print_table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[dash(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)


def print_json(out: TextIO, document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False), file=out)


def print_fields(out: TextIO, document: dict[str, Any], keys: Sequence[str]) -> None:
    width = max(len(key) for key in keys)
    for key in keys:
        if key in document:
            print(f"{key.ljust(width)}  {dash(document[key])}", file=out)


def event_line(event: dict[str, Any]) -> str:
    """`time type key status amount currency`."""
    invoice = event.get("data", {}).get("invoice", {})
    fields = (
        event.get("timestamp"),
        str(event.get("type", "")).ljust(22),
        invoice.get("key"),
        str(invoice.get("status", "")).ljust(14),
        invoice.get("amount"),
        invoice.get("currency"),
    )
    return " ".join(dash(field) for field in fields)


SUBSCRIPTION_FIELDS = ("id", "url", "enabled", "event_types", "accounts", "description", "created_at")


# Commands. Each takes the parsed arguments, the API and the output stream, and returns the exit code.


def cmd_accounts(args: argparse.Namespace, api: Api, out: TextIO) -> int:
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


def cmd_sync(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    path = "/sync" if args.account is None else f"/accounts/{segment(args.account)}/sync"
    body = api.call("POST", path)
    if args.json:
        print_json(out, body)
    else:
        print(f"sync queued: {', '.join(body.get('accounts', [])) or 'no accounts'}", file=out)
    return EXIT_OK


class EventReader:
    """Reads the event log forward from the start, page by page.

    At the end of the log the API answers `next: null`, which gives no cursor for "after the last event"; so the
    reader keeps the last cursor it had, reads that page again on the next poll and skips the ids it has seen.
    """

    def __init__(self, api: Api, *, account: str | None, event_type: str | None) -> None:
        self.api = api
        self.filters = {"account": account, "type": event_type}
        self.after: str | None = None
        self.seen: set[str] = set()

    def poll(self) -> Iterator[dict[str, Any]]:
        """Every event logged since the previous poll, oldest first."""
        while True:
            page = self.api.call("GET", "/events", params={**self.filters, "limit": EVENTS_PAGE, "after": self.after})
            for event in page["events"]:
                if event["id"] not in self.seen:
                    yield event
            if page["next"] is None:
                self.seen = {event["id"] for event in page["events"]}
                return
            self.after = page["next"]
            self.seen = set()


def cmd_events(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    reader = EventReader(api, account=args.account, event_type=args.type)

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event, ensure_ascii=False) if args.json else event_line(event), file=out, flush=True)

    for event in deque(reader.poll(), maxlen=args.limit):
        show(event)
    if not args.follow:
        return EXIT_OK
    # Following rides out a restart of the web process or a Redis outage (503): it says so once, and goes on.
    outage: str | None = None
    try:
        while True:
            time.sleep(args.interval)
            try:
                for event in reader.poll():
                    show(event)
            except (Unreachable, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status != 503:
                    raise
                if outage is None:
                    print(f"relay: {exc}; still following", file=sys.stderr, flush=True)
                outage = str(exc)
                continue
            if outage is not None:
                print("relay: the relay answers again", file=sys.stderr, flush=True)
                outage = None
    except KeyboardInterrupt:
        return EXIT_OK


def cmd_subscriptions_list(args: argparse.Namespace, api: Api, out: TextIO) -> int:
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


def cmd_subscriptions_create(args: argparse.Namespace, api: Api, out: TextIO) -> int:
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
        print("The secret is shown only now: store it where the subscriber can read it.", file=sys.stderr)
    return EXIT_OK


def cmd_subscriptions_show(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    _show_subscription(args, out, api.call("GET", f"/subscriptions/{segment(args.id)}"))
    return EXIT_OK


def cmd_subscriptions_update(args: argparse.Namespace, api: Api, out: TextIO) -> int:
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
        usage_error(
            args, "nothing to change: give --url, --event-type, --account, --description, --enable or --disable"
        )
    _show_subscription(args, out, api.call("PATCH", f"/subscriptions/{segment(args.id)}", body=document))
    return EXIT_OK


def cmd_subscriptions_delete(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    api.call("DELETE", f"/subscriptions/{segment(args.id)}")
    if args.json:
        print_json(out, {"deleted": args.id})
    else:
        print(f"deleted {args.id}", file=out)
    return EXIT_OK


def cmd_subscriptions_rotate(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    body = api.call("POST", f"/subscriptions/{segment(args.id)}/rotate-secret")
    if args.json:
        print_json(out, body)
    else:
        print_fields(out, body, ("id", "secret", "previous_secret_expires_at"))
        print(
            "The new secret is shown only now; the previous one keeps signing beside it until "
            f"{dash(body.get('previous_secret_expires_at'))}.",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_deliveries(args: argparse.Namespace, api: Api, out: TextIO) -> int:
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


def cmd_replay(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    document = {"since": args.since} if args.since is not None else {"event_ids": args.event_ids}
    body = api.call("POST", f"/subscriptions/{segment(args.id)}/replay", body=document)
    if args.json:
        print_json(out, body)
    else:
        print(f"queued {body['queued']} deliveries to {args.id}", file=out)
    return EXIT_OK


# The command line.


Number = TypeVar("Number", int, float)


def positive(convert: Callable[[str], Number], malformed: str, refused: str) -> Callable[[str], Number]:
    """An argparse type: `convert` the text, refuse what fails (`malformed`) or is not above zero (`refused`)."""

    def parse(text: str) -> Number:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {malformed}, not {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected {refused}, not {text!r}")
        return value

    return parse


positive_int = positive(int, "a positive integer", "a positive integer")
positive_float = positive(float, "a number of seconds", "a positive number of seconds")


def usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    parser: argparse.ArgumentParser = args.parser
    parser.error(message)


Command = Callable[[argparse.Namespace, Api, TextIO], int]


def _output() -> argparse.ArgumentParser:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    return output


def _command(
    commands: Any, name: str, handler: Command | None, help_text: str, *, json_output: bool = True
) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=help_text, parents=[_output()] if json_output else []
    )
    sub.set_defaults(handler=handler, parser=sub)
    return sub


def _filters(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--event-type",
        dest="event_types",
        action="append",
        metavar="TYPE",
        help="an event type to receive (invoice.paid, invoice.*, *); repeat for more",
    )
    sub.add_argument(
        "--account", dest="accounts", action="append", metavar="ACCOUNT", help="an account to receive; repeat"
    )
    sub.add_argument("--description", help="a note for operators")


def _subscription_commands(commands: Any) -> None:
    subscriptions = commands.add_parser("subscriptions", help="list, create, show, update, delete, rotate")
    actions = subscriptions.add_subparsers(dest="action", required=True, metavar="ACTION")
    _command(actions, "list", cmd_subscriptions_list, "list the subscriptions (no secrets)")
    create = _command(actions, "create", cmd_subscriptions_create, "subscribe a URL; prints its signing secret, once")
    create.add_argument("target", metavar="URL", help="the subscriber's http(s) URL")
    _filters(create)
    show = _command(actions, "show", cmd_subscriptions_show, "show one subscription (no secret)")
    show.add_argument("id", metavar="ID")
    update = _command(actions, "update", cmd_subscriptions_update, "change a subscription")
    update.add_argument("id", metavar="ID")
    update.add_argument("--url", dest="target", metavar="URL", help="a new subscriber URL")
    _filters(update)
    enabled = update.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_const", const=True, help="enable it")
    enabled.add_argument(
        "--disable", dest="enabled", action="store_const", const=False, help="disable it (queued deliveries fail)"
    )
    delete = _command(actions, "delete", cmd_subscriptions_delete, "delete a subscription")
    delete.add_argument("id", metavar="ID")
    rotate = _command(
        actions, "rotate", cmd_subscriptions_rotate, "rotate the signing secret; prints the new one, once"
    )
    rotate.add_argument("id", metavar="ID")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relay",
        description="invoice-relay operator tool: a client of the operator API (connection options go before the "
        "command: relay --url http://relay:8000 accounts).",
        epilog="Exit codes: 0 ok; 1 refused by the API, or invalid configuration (check); 2 unreachable or usage.",
    )
    parser.add_argument("--url", help="the relay's base URL (RELAY_URL; default http://127.0.0.1:$PORT, PORT=8000)")
    parser.add_argument("--token", help="the operator API token (RELAY_ADMIN_TOKEN; prefer the variable)")
    parser.add_argument("--timeout", type=positive_float, default=30.0, help="seconds per request (default 30)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _command(
        commands, "check", None, "validate the configuration, as `python -m service.check` does", json_output=False
    )
    _command(commands, "accounts", cmd_accounts, "list the accounts and their last sync")

    sync = _command(commands, "sync", cmd_sync, "queue a sync of one account, or of every account")
    sync.add_argument("account", nargs="?", help="the account (default: all)")

    events = _command(commands, "events", cmd_events, "print the latest events; --follow keeps printing new ones")
    events.add_argument("--account", help="only this account's events")
    events.add_argument("--type", help="only this event type (invoice.paid, ...)")
    events.add_argument("--limit", type=positive_int, default=20, help="how many of the latest events (default 20)")
    events.add_argument("--follow", "-f", action="store_true", help="keep polling for new events; Ctrl-C stops")
    events.add_argument(
        "--interval", type=positive_float, default=2.0, help="seconds between polls with --follow (default 2)"
    )

    _subscription_commands(commands)

    deliveries = _command(commands, "deliveries", cmd_deliveries, "deliveries to one subscription, newest first")
    deliveries.add_argument("id", metavar="ID", help="the subscription id")
    deliveries.add_argument("--status", choices=STATUSES, help="only deliveries in this status")
    deliveries.add_argument("--limit", type=positive_int, default=100, help="how many rows (1..1000, default 100)")

    replay = _command(commands, "replay", cmd_replay, "queue logged events again to one subscription")
    replay.add_argument("id", metavar="ID", help="the subscription id")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--since", metavar="RFC3339", help="every matching event logged since this time")
    which.add_argument("--event-id", dest="event_ids", action="append", metavar="EVENT_ID", help="an event; repeat")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return check.main()
    url = args.url or default_url()
    token = args.token or os.environ.get("RELAY_ADMIN_TOKEN") or None
    api = Api(url, token, timeout=args.timeout)
    handler: Command = args.handler
    try:
        return handler(args, api, stdout)
    except ApiError as exc:
        print(f"relay: {exc} (HTTP {exc.status})", file=stderr)
        if exc.status == 401 and not token:
            print("relay: no token given: set RELAY_ADMIN_TOKEN or pass --token", file=stderr)
        return EXIT_REFUSED
    except Unreachable as exc:
        print(f"relay: {exc}", file=stderr)
        return EXIT_UNREACHABLE
    except (KeyError, TypeError, AttributeError) as exc:  # a server that is not the relay, or a newer one
        print(f"relay: unexpected answer from {shown_url(url)}: missing or malformed {exc}", file=stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `relay events | head`: the reader left; keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        api.close()


if __name__ == "__main__":
    sys.exit(main())
