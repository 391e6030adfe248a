"""Form fields as the documents the subscription actions take: empty means absent, as in the JSON API."""

from __future__ import annotations

from starlette.datastructures import FormData

from service.web.console.forms import comma_list, recover_document, replay_document, subscription_document


def test_a_comma_list_drops_blanks_and_an_empty_one_is_absent() -> None:
    assert comma_list(" invoice.paid, ,invoice.created ") == ["invoice.paid", "invoice.created"]
    assert comma_list("  ") is None


def test_a_create_form_becomes_the_apis_document() -> None:
    form = FormData(
        [("url", " https://example.com/h "), ("event_types", ""), ("accounts", "shop"), ("description", ""),
         ("rate_limit", "25"), ("ordering", "")]
    )  # fmt: skip
    fields = ("url", "event_types", "accounts", "description", "rate_limit", "ordering")
    assert subscription_document(form, fields) == {
        "url": "https://example.com/h",
        "event_types": None,
        "accounts": ["shop"],
        "description": None,
        "rate_limit": 25,
        "ordering": "none",
    }
    # What is not a number goes on as typed, for the validation to refuse in its own words.
    assert subscription_document(FormData([("rate_limit", "fast")]), ("rate_limit",)) == {"rate_limit": "fast"}
    assert subscription_document(FormData([("rate_limit", "")]), ("rate_limit",)) == {"rate_limit": None}


def test_replay_and_recover_forms_keep_only_what_was_filled_in() -> None:
    assert replay_document(FormData([("since", ""), ("event_ids", "evt_a, evt_b")])) == {
        "event_ids": ["evt_a", "evt_b"]
    }
    assert replay_document(FormData([("since", "2026-01-01T00:00:00Z"), ("event_ids", "")])) == {
        "since": "2026-01-01T00:00:00Z"
    }
    assert replay_document(FormData([])) == {}
    assert recover_document(FormData([("since", "2026-01-01T00:00:00Z"), ("until", "")])) == {
        "since": "2026-01-01T00:00:00Z"
    }
