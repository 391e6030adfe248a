"""`relay`: the operator's command line, a client of the operator API (`relay check` is the one local command).

    relay check                                   validate the configuration (like `python -m service.check`)
    relay accounts                                accounts and their last sync
    relay sync [ACCOUNT]                          queue a sync of one account, or of all
    relay events [--account A] [--type T] [--limit N] [--follow]    (--follow: until Ctrl-C or SIGTERM)
    relay events show EVENT_ID
    relay subscriptions list | create URL ... | show ID | update ID ... | delete ID | rotate ID
    relay deliveries ID [--status S]
    relay replay ID (--since RFC3339 | --event-id E ...)   (RFC 3339 with an offset: 2026-11-22T10:00:00Z)

The API is at `--url` / `RELAY_URL` (default `http://127.0.0.1:${PORT:-8000}`), with the bearer token
`--token` / `RELAY_ADMIN_TOKEN`; these two go before the command (`relay --url http://relay:8000 accounts`), as
`subscriptions update ID --url U` is the subscriber's new URL. `--json` prints the API's answer instead of a table
(`events --json`: one event per line). Exit codes: 0 done; 1 the API refused (its `error` and `detail` are
printed), a replay named event ids the log does not hold, or, for `check`, the configuration is invalid; 2 the API
cannot be reached, or the command line is wrong.
A subscription secret is printed only by `create` and `rotate`: the only time an operator sees it.

Here: the parser and `main`; `api` is the client of the operator API, `output` prints, `commands` runs each command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, TextIO, TypeVar

import httpx

from contracts.times import parse_rfc3339
from service import check
from service.cli.api import Api, ApiError, Unreachable, default_url, shown_url
from service.cli.commands import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Command,
    cmd_accounts,
    cmd_deliveries,
    cmd_events,
    cmd_replay,
    cmd_subscriptions_create,
    cmd_subscriptions_delete,
    cmd_subscriptions_list,
    cmd_subscriptions_rotate,
    cmd_subscriptions_show,
    cmd_subscriptions_update,
    cmd_sync,
)
from service.state.deliveries import STATUSES

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


def rfc3339(text: str) -> str:
    """An argparse type: the text, once it is an RFC 3339 time with an offset (the API reads it again)."""
    try:
        parse_rfc3339(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 time with an offset, Z or +hh:mm (2026-11-22T10:00:00Z), not {text!r}"
        ) from None
    return text


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
        epilog="Exit codes: 0 ok; 1 refused by the API, event ids a replay did not find, or invalid configuration "
        "(check); 2 unreachable or usage.",
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

    events = _command(
        commands,
        "events",
        cmd_events,
        "print the latest events; --follow keeps printing new ones; `events show ID` prints one event",
    )
    events.add_argument("action", nargs="?", metavar="show", help="show EVENT_ID: print that one event")
    events.add_argument("event_id", nargs="?", metavar="EVENT_ID", help="with show: the event's id (evt_...)")
    events.add_argument("--account", help="only this account's events")
    events.add_argument("--type", help="only this event type (invoice.paid, ...)")
    events.add_argument("--limit", type=positive_int, default=20, help="how many of the latest events (default 20)")
    events.add_argument(
        "--follow", "-f", action="store_true", help="keep polling for new events; Ctrl-C or SIGTERM stops (exit 0)"
    )
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
    which.add_argument(
        "--since", type=rfc3339, metavar="RFC3339", help="every matching event logged since this time (with an offset)"
    )
    which.add_argument(
        "--event-id",
        dest="event_ids",
        action="append",
        metavar="EVENT_ID",
        help="an event; repeat (an id not in the log is named, and the exit code is 1)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Run one command line and return its exit code; `transport` replaces the network under the API client."""
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    # argparse (usage errors, --help) and `check` print to sys.stdout and sys.stderr themselves.
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command == "check":
            return check.main()
    url = args.url or default_url()
    token = args.token or os.environ.get("RELAY_ADMIN_TOKEN") or None
    api = Api(url, token, timeout=args.timeout, transport=transport)
    handler: Command = args.handler
    try:
        return handler(args, api, stdout, stderr)
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
