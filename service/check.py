"""`python -m service.check` (the Procfile's `release`): validate the configuration, exit 2 when invalid
(the status the web and the worker stop with on the same configuration).

It prints every problem, one line each, as the web and the worker do when they refuse to start; and what
is valid but probably not meant, as warnings."""

from __future__ import annotations

import sys

from contracts.errors import ConfigError
from service.config import config_warnings, error_lines, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        return 2
    for warning in config_warnings(settings):
        print(f"configuration warning: {warning}", file=sys.stderr)
    names = ", ".join(f"{a.name} ({a.provider})" for a in settings.accounts.values()) or "none"
    print(f"configuration ok: {len(settings.accounts)} account(s): {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
