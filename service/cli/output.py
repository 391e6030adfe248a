"""How the command line prints answers: aligned tables, labelled fields, indented JSON, one line per event."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO


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
