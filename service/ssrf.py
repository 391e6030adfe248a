"""Refusing subscriber URLs that point inside the network (SSRF), at creation and at every delivery.

The check is on resolved addresses, not on the URL's text: `2130706433`, `0x7f.1`, `127.1` and a DNS name
pointing at 10.0.0.1 all resolve to addresses the same resolver then connects to. At delivery time the
check runs on every address the webhook client is about to connect to, so a name that resolved to a public address at creation and
to a private one later (DNS rebinding) is refused on the connection that would have used it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenTarget(ValueError):
    """The URL is not allowed as a subscription target; the message says why."""


def forbidden_address(address: IPAddress) -> bool:
    """Loopback, private, link-local (cloud metadata included), multicast, reserved, unspecified, and the
    IPv6 forms that embed such an IPv4 address (mapped, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in (address.ipv4_mapped, address.sixtofour, *(address.teredo or ())):
            if embedded is not None and forbidden_address(embedded):
                return True
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return True  # fec0::/10: deprecated site-local, still routed inside some networks, never global
    return not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified


def check_url(url: object) -> tuple[str, str, int]:
    """Syntax only: an absolute http(s) URL with a host and no credentials. Returns (scheme, host, port)."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise ForbiddenTarget("url must be an http(s) URL of at most 2048 characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "http://[::1/", "http://[not-an-address]/"
        raise ForbiddenTarget("url is not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTarget("url must use http or https")
    if not parts.hostname:
        raise ForbiddenTarget("url must name a host")
    if parts.username is not None or parts.password is not None:
        raise ForbiddenTarget("url must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ForbiddenTarget("url has an invalid port") from exc
    return parts.scheme, parts.hostname, port


async def check_target(url: object, *, allow_private: bool) -> str:
    """The URL, once its syntax is fine and (unless allowed) every address its host resolves to is public."""
    _, host, port = check_url(url)
    if allow_private:
        return str(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ForbiddenTarget(f"url host {host!r} does not resolve") from exc
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not addresses or any(forbidden_address(address) for address in addresses):
        raise ForbiddenTarget(
            "url resolves to a loopback, private, link-local or reserved address"
            " (RELAY_ALLOW_PRIVATE_URLS=true allows such URLs)"
        )
    return str(url)


def connectable(host: str, addresses: Iterable[str], *, allow_private: bool) -> list[str]:
    """The addresses `host` resolved to that a delivery may connect to: all of them when private targets are
    allowed, else the public ones; `ForbiddenTarget` when none is left (a name rebound to an inside address)."""
    found = list(addresses)
    if allow_private:
        return found
    allowed = [address for address in found if not forbidden_address(ipaddress.ip_address(address.split("%", 1)[0]))]
    if not allowed:
        raise ForbiddenTarget(f"refused: {host} is or resolves to a loopback, private, link-local or reserved address")
    return allowed
