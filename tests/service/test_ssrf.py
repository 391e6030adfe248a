"""The SSRF guard: which addresses are forbidden, URL syntax, creation-time checks, the delivery resolver."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from service.ssrf import ForbiddenTarget, check_target, check_url, connectable, forbidden_address

FORBIDDEN = [
    # loopback
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    # RFC 1918
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.255.255",
    # CGNAT shared address space 100.64.0.0/10
    "100.64.0.1",
    "100.127.255.254",
    # link-local, cloud metadata included
    "169.254.0.1",
    "169.254.169.254",
    "fe80::1",
    # multicast
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "ff0e::1",
    # reserved 240.0.0.0/4 and broadcast
    "240.0.0.1",
    "250.1.2.3",
    "255.255.255.255",
    # unspecified and "this network"
    "0.0.0.0",
    "0.1.2.3",
    "::",
    # IPv4-mapped IPv6 of private / loopback / metadata
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    # 6to4 (2002::/16) embedding a private IPv4: 2002:0a00:0001:: is 10.0.0.1, 2002:7f00:0001:: is 127.0.0.1
    "2002:a00:1::1",
    "2002:7f00:1::",
    "2002:c0a8:101::1",
    # Teredo (2001::/32) whose client is 192.168.1.1 (stored xor 0xffffffff): 3f57:fefe
    "2001:0:4136:e378:8000:63bf:3f57:fefe",
    # unique local fc00::/7 and the deprecated site-local fec0::/10
    "fc00::1",
    "fd12:3456:789a::1",
    "fec0::1",
    # documentation and benchmarking ranges
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",
    "2001:db8::1",
    # IPv4-compatible (deprecated) and NAT64 forms of loopback / private
    "::7f00:1",
    "64:ff9b::a00:1",
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.1",  # just above CGNAT
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2002:808:808::1",  # 6to4 embedding the public 8.8.8.8
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden_addresses(address: str) -> None:
    assert forbidden_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_address(ipaddress.ip_address(address)) is False


def test_teredo_fixture_really_embeds_a_private_client() -> None:
    """Guards the table above: the Teredo row is about the embedded address, not a typo."""
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:3f57:fefe").teredo
    assert teredo is not None
    assert teredo[1] == ipaddress.IPv4Address("192.168.1.1")
    assert ipaddress.IPv6Address("2002:a00:1::1").sixtofour == ipaddress.IPv4Address("10.0.0.1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com/hook", ("http", "example.com", 80)),
        ("https://example.com/hook", ("https", "example.com", 443)),
        ("https://Example.COM:8443/a?b=c#d", ("https", "example.com", 8443)),
        ("HTTP://93.184.216.34/", ("http", "93.184.216.34", 80)),
        ("http://[2606:4700:4700::1111]:8080/", ("http", "2606:4700:4700::1111", 8080)),
    ],
)
def test_check_url_accepts_http_and_https(url: str, expected: tuple[str, str, int]) -> None:
    assert check_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        None,
        42,
        ["http://example.com/"],
        "",
        "http://example.com/" + "a" * 2048,
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/hook",
        "//example.com/hook",
        "http://",
        "http:///path",
        "http://:80/",
        "http://user:password@example.com/",
        "http://user@example.com/",
        "http://:password@example.com/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://[::1/",
        "http://[not-an-address]/",
    ],
)
def test_check_url_refuses(url: object) -> None:
    with pytest.raises(ForbiddenTarget):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://localhost:8080/",
        "http://0.0.0.0/",
    ],
)
async def test_check_target_refuses_private_targets_unless_allowed(url: str) -> None:
    with pytest.raises(ForbiddenTarget):
        await check_target(url, allow_private=False)
    assert await check_target(url, allow_private=True) == url


async def test_check_target_accepts_a_public_literal() -> None:
    assert await check_target("https://93.184.216.34/hook", allow_private=False) == "https://93.184.216.34/hook"
    assert await check_target("http://[2606:4700:4700::1111]/", allow_private=False) == "http://[2606:4700:4700::1111]/"


async def test_check_target_checks_syntax_even_when_private_is_allowed() -> None:
    with pytest.raises(ForbiddenTarget):
        await check_target("ftp://127.0.0.1/", allow_private=True)
    with pytest.raises(ForbiddenTarget):
        await check_target("http://u:p@127.0.0.1/", allow_private=True)


def _addrinfo(*addresses: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for address in addresses:
        if ":" in address:
            rows.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 80, 0, 0)))
        else:
            rows.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80)))
    return rows


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (("93.184.216.34",), False),
        (("93.184.216.34", "2606:4700:4700::1111"), False),
        (("93.184.216.34", "10.0.0.1"), True),  # one private answer is enough to refuse
        (("2606:4700:4700::1111", "fd00::1"), True),
        (("fe80::1%eth0",), True),  # a scoped link-local answer: refused, not a crash
        ((), True),  # no address at all
    ],
)
async def test_check_target_judges_every_resolved_address(
    monkeypatch: pytest.MonkeyPatch, addresses: tuple[str, ...], refused: bool
) -> None:
    async def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        assert host == "hooks.example"
        return _addrinfo(*addresses)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    if refused:
        with pytest.raises(ForbiddenTarget):
            await check_target("https://hooks.example/in", allow_private=False)
    else:
        assert await check_target("https://hooks.example/in", allow_private=False) == "https://hooks.example/in"


async def test_check_target_refuses_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ForbiddenTarget, match="does not resolve"):
        await check_target("https://nowhere.example/", allow_private=False)


def test_connectable_drops_private_answers() -> None:
    answers = ["10.0.0.5", "93.184.216.34", "127.0.0.1", "fe80::1%eth0", "2606:4700:4700::1111"]
    assert connectable("hooks.example", answers, allow_private=False) == ["93.184.216.34", "2606:4700:4700::1111"]


@pytest.mark.parametrize("addresses", [("127.0.0.1",), ("10.0.0.1", "169.254.169.254"), ("::1", "::ffff:10.0.0.1"), ()])
def test_connectable_refuses_a_name_with_only_private_answers(addresses: tuple[str, ...]) -> None:
    with pytest.raises(ForbiddenTarget, match=r"refused: rebound\.example"):
        connectable("rebound.example", addresses, allow_private=False)


def test_connectable_passes_everything_when_private_is_allowed() -> None:
    answers = ["10.0.0.5", "93.184.216.34", "127.0.0.1"]
    assert connectable("hooks.example", answers, allow_private=True) == answers
