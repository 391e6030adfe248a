"""The console's routes, mounted at `/console` by `service.web.app`."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from service.web.console import events, overview, sign_in, subscriptions
from service.web.console.static_files import DIRECTORY

_SUBSCRIPTION = "/subscriptions/{subscription_id}"


def console() -> list[BaseRoute]:
    """`/console` itself (the overview, no trailing slash) and everything under it."""
    overview_route = Route("/console", overview.overview, methods=["GET"])
    return [overview_route, _under_console()]


def _under_console() -> Mount:
    return Mount(
        "/console",
        routes=[
            Route("/sign-in", sign_in.sign_in_page, methods=["GET"]),
            Route("/sign-in", sign_in.sign_in, methods=["POST"]),
            Route("/sign-out", sign_in.sign_out, methods=["POST"]),
            Route("/fragments/recent-events", overview.recent_events, methods=["GET"]),
            Route("/fragments/events-tail", events.events_tail, methods=["GET"]),
            Route("/accounts/{account}/sync", overview.sync_account, methods=["POST"]),
            Route("/events", events.events_page, methods=["GET"]),
            Route("/events/{event_id}", events.event_page, methods=["GET"]),
            Route("/subscriptions", subscriptions.list_page, methods=["GET"]),
            Route("/subscriptions", subscriptions.create, methods=["POST"]),
            Route("/subscriptions/new", subscriptions.new_page, methods=["GET"]),
            Route(_SUBSCRIPTION, subscriptions.subscription_page, methods=["GET"]),
            Route(_SUBSCRIPTION + "/edit", subscriptions.edit, methods=["POST"]),
            Route(_SUBSCRIPTION + "/enable", subscriptions.enable, methods=["POST"]),
            Route(_SUBSCRIPTION + "/disable", subscriptions.disable, methods=["POST"]),
            Route(_SUBSCRIPTION + "/rotate-secret", subscriptions.rotate_secret, methods=["POST"]),
            Route(_SUBSCRIPTION + "/delete", subscriptions.delete_page, methods=["GET"]),
            Route(_SUBSCRIPTION + "/delete", subscriptions.delete, methods=["POST"]),
            Route(_SUBSCRIPTION + "/replay", subscriptions.replay, methods=["POST"]),
            Route(_SUBSCRIPTION + "/recover", subscriptions.recover, methods=["POST"]),
            Mount("/static", StaticFiles(directory=DIRECTORY), name="console-static"),
        ],
    )
