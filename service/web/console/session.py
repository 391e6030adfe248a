"""The console's signed values: the session cookie, the CSRF token derived from it, and one-time flash messages.

Everything is signed with a key derived from RELAY_ADMIN_TOKEN, so a new token signs every session out. A
session is `<expiry unix s>.<random>` plus its signature: the expiry travels inside the signed value, so a
cookie kept past it (whatever the browser does with Max-Age) is refused. The CSRF token is an HMAC of the session:
nothing to store, and it changes with each sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COOKIE = "relay_console"
FLASH_COOKIE = "relay_console_flash"
#: A session's lifetime; signing in again is the only way to extend it.
SESSION_TTL_S = 12 * 3600


def signing_key(admin_token: bytes) -> bytes:
    """The console's key: the admin token's, for this purpose only (never the token itself)."""
    return hmac.new(admin_token, b"invoice-relay console v1", hashlib.sha256).digest()


def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, purpose: str, value: str) -> str:
    """`value` with its signature for `purpose` (a value signed for one purpose does not pass for another)."""
    return f"{value}~{_mac(key, purpose, value)}"


def unsign(key: bytes, purpose: str, signed: str) -> str | None:
    """The value inside `signed` when its signature is right; None otherwise."""
    value, tilde, mac = signed.rpartition("~")
    if not tilde or not hmac.compare_digest(mac.encode(), _mac(key, purpose, value).encode()):
        return None
    return value


def new_session(key: bytes, now_s: float) -> str:
    """A cookie value for a session that ends SESSION_TTL_S from `now_s`."""
    return sign(key, "session", f"{int(now_s) + SESSION_TTL_S}.{secrets.token_urlsafe(16)}")


def valid_session(key: bytes, cookie: str | None, now_s: float) -> str | None:
    """The session inside the cookie while it is signed and not expired; None otherwise."""
    if not cookie:
        return None
    session = unsign(key, "session", cookie)
    if session is None:
        return None
    expires, dot, _ = session.partition(".")
    if not dot or not expires.isascii() or not expires.isdigit() or int(expires) <= now_s:
        return None
    return session


def csrf_token(key: bytes, session: str) -> str:
    return _mac(key, "csrf", session)


def csrf_ok(key: bytes, session: str, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode(), csrf_token(key, session).encode())
