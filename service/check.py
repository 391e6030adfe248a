"""`python -m service.check` (the Procfile's `release`): validate the configuration, exit 1 when invalid."""

from __future__ import annotations

import sys

from contracts.errors import ConfigError
from service.config import load_settings


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration invalid: {exc}", file=sys.stderr)
        return 1
    names = ", ".join(f"{a.name} ({a.provider})" for a in settings.accounts.values()) or "none"
    print(f"configuration ok: {len(settings.accounts)} account(s): {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
