"""Form fields as the documents `service.web.subscription_actions` takes: the same validation as the JSON API
then applies to what an operator typed."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def comma_list(text: str) -> list[str] | None:
    """`a, b` as ["a", "b"]; empty as None (the API's "absent": every account or type)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return items or None


def _rate_limit(text: str) -> object:
    """Digits as a number; anything else as typed, for the validation to refuse with its own words."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else (text or None)


def subscription_document(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields `names` of a create or edit form."""
    readers: dict[str, Any] = {
        "url": lambda: field(form, "url"),
        "event_types": lambda: comma_list(field(form, "event_types")),
        "accounts": lambda: comma_list(field(form, "accounts")),
        "description": lambda: field(form, "description") or None,
        "rate_limit": lambda: _rate_limit(field(form, "rate_limit")),
        "ordering": lambda: field(form, "ordering") or "none",
    }
    return {name: readers[name]() for name in names}


def replay_document(form: FormData) -> dict[str, Any]:
    """`since` or `event_ids`, whichever was filled in (both or neither: the action says to give one)."""
    document: dict[str, Any] = {}
    if field(form, "since"):
        document["since"] = field(form, "since")
    event_ids = comma_list(field(form, "event_ids"))
    if event_ids is not None:
        document["event_ids"] = event_ids
    return document


def recover_document(form: FormData) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name in ("since", "until"):
        if field(form, name):
            document[name] = field(form, name)
    return document
