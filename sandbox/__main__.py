"""`python -m sandbox`: serve the provider simulator on one port."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import uvicorn

from sandbox.accounts import create_account
from sandbox.app import create_app
from sandbox.errors import Problem
from sandbox.state import Sandbox


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--accounts", type=Path, help="TOML file of [accounts.NAME] tables")
    parser.add_argument("--churn", type=float, metavar="SECONDS", help="change a few invoices this often")
    parser.add_argument("--seed", type=int, default=0, help="seed of the churn, and of accounts whose table sets none")
    args = parser.parse_args(argv)
    if args.churn is not None and args.churn <= 0:
        parser.error("--churn must be a positive number of seconds")
    return args


def load_accounts(sb: Sandbox, path: Path, seed: int = 0) -> None:
    with path.open("rb") as file:
        tables = tomllib.load(file).get("accounts", {})
    if not isinstance(tables, dict):
        raise Problem(400, "[accounts] must be a table of tables")
    for name, spec in tables.items():
        if not isinstance(spec, dict):
            raise Problem(400, f"[accounts.{name}] must be a table")
        try:
            create_account(sb, {"seed": seed, **spec, "name": name})  # the table's name is the account's
        except Problem as exc:
            raise Problem(exc.status, f"[accounts.{name}]: {exc.message}") from exc


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    sb = Sandbox(churn_interval=args.churn, churn_seed=args.seed)
    if args.accounts is not None:
        try:
            load_accounts(sb, args.accounts, args.seed)
        except (OSError, tomllib.TOMLDecodeError, Problem) as exc:
            print(f"sandbox: cannot load {args.accounts}: {exc}", file=sys.stderr)
            return 2
    print(
        f"sandbox: http://{args.host}:{args.port} with {len(sb.accounts)} account(s)"
        + (f", churn every {args.churn}s" if args.churn else ""),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(create_app(sb), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
