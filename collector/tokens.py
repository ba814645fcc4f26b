"""API tokens (``Authorization: Bearer mct_...``): 32 random bytes shown once; only their sha256
is stored, with the holder's name, a role (``manager`` unless given), an optional expiry and, once
revoked, the revocation time. A token is refused once revoked or expired, and while a user of the
same name is disabled."""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from common.web.auth import Principal
from .backend import Conn
from .auth import check_name, check_role, now_iso
from .errors import UnknownToken


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Conn, name: str, *, role: str = "manager",
                 expires_in_s: float | None = None, now: float | None = None) -> str:
    check_name(name)
    check_role(role)
    now = time.time() if now is None else now
    token = "mct_" + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO tokens (name, token_sha256, created_at, role, expires_epoch) VALUES (?, ?, ?, ?, ?)",
                 (name, _sha(token), now_iso(), role, None if expires_in_s is None else now + expires_in_s))
    return token


def token_principal(conn: Conn, token: str, now: float | None = None) -> Principal | None:
    now = time.time() if now is None else now
    row = conn.execute("SELECT t.name, t.role, u.site FROM tokens t LEFT JOIN users u ON u.name = t.name "
                       "WHERE t.token_sha256=? AND t.revoked_at IS NULL AND (t.expires_epoch IS NULL OR "
                       "t.expires_epoch > ?) AND coalesce(u.disabled, 0) = 0", (_sha(token), now)).fetchone()
    return None if row is None else Principal(name=row[0], role=row[1], via="token", site=row[2])


def token_owner(conn: Conn, token: str) -> str | None:
    who = token_principal(conn, token)
    return None if who is None else who.name


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def list_tokens(conn: Conn, now: float | None = None) -> list[dict[str, Any]]:
    """Every token (never the token itself): id, name, role, created, expires, revoked, state."""
    now = time.time() if now is None else now
    out = []
    for r in conn.execute("SELECT id, name, role, created_at, expires_epoch, revoked_at, token_sha256 FROM tokens "
                          "ORDER BY id"):
        state = "revoked" if r[5] else "expired" if r[4] is not None and r[4] <= now else "active"
        out.append({"id": r[0], "name": r[1], "role": r[2], "created_at": r[3], "expires_at": _iso(r[4]),
                    "revoked_at": r[5], "state": state, "sha256_prefix": r[6][:12]})
    return out


def revoke_token(conn: Conn, token_or_id: str) -> int:
    """Revoke by the token itself (``mct_...``) or by the id ``list-tokens`` shows; returns the id."""
    if token_or_id.isdigit():
        row = conn.execute("SELECT id FROM tokens WHERE id=?", (int(token_or_id),)).fetchone()
    else:
        row = conn.execute("SELECT id FROM tokens WHERE token_sha256=?", (_sha(token_or_id),)).fetchone()
    if row is None:
        raise UnknownToken(f"no token {token_or_id[:8]!r}…: give the token itself or its id from list-tokens")
    conn.execute("UPDATE tokens SET revoked_at=coalesce(revoked_at, ?) WHERE id=?", (now_iso(), row[0]))
    return int(row[0])
