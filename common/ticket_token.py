"""The token in a ticket's QR link: unguessable, valid for the ticket's local day only.

``token = base64url(day ordinal (3 bytes) + HMAC-SHA256(secret, site|day|ticket)[:16] + ticket)``:
128 bits of keyed signature, so tokens cannot be guessed or enumerated without the site secret;
the ticket label rides inside so the portal needs no lookup table. The kiosk (which prints the
QR) and the portal (which opens it) share the secret from their configs; nothing else needs it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date
from typing import NamedTuple

MAC_BYTES = 16  # 128 bits (>= 96 required)
_LABEL = re.compile(r"^[A-Z0-9]{1,12}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{26,48}$")


class TicketRef(NamedTuple):
    day: str  # YYYY-MM-DD, local
    ticket: str  # printed label


def _mac(secret: bytes, site: str, day: str, ticket: str) -> bytes:
    return hmac.new(secret, f"{site}|{day}|{ticket}".encode(), hashlib.sha256).digest()[:MAC_BYTES]


def make_token(secret: bytes, site: str, day: str, ticket: str) -> str:
    """The URL-safe token of ``ticket`` issued on local ``day`` at ``site``."""
    if not _LABEL.match(ticket):
        raise ValueError(f"ticket label {ticket!r} is not 1-12 upper-case letters or digits")
    ordinal = date.fromisoformat(day).toordinal().to_bytes(3, "big")
    raw = ordinal + _mac(secret, site, day, ticket) + ticket.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_token(secret: bytes, site: str, token: str) -> TicketRef | None:
    """The ticket a token names, or None when it is malformed or its signature is wrong (forged).
    The caller checks the day against today (an old, genuine token has expired)."""
    if not _TOKEN.match(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        day = date.fromordinal(int.from_bytes(raw[:3], "big")).isoformat()
        ticket = raw[3 + MAC_BYTES:].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    if not _LABEL.match(ticket) or not hmac.compare_digest(raw[3:3 + MAC_BYTES], _mac(secret, site, day, ticket)):
        return None
    return TicketRef(day, ticket)
