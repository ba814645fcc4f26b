"""Login sessions kept on the server: the cookie holds 32 random bytes, the ``sessions`` table
their sha256, the user and an expiry. A session is good only while its row exists, it has not
expired and its user exists and is enabled, so logout, a password change, disabling or deleting
the user end it at once (the very next request is refused)."""
from __future__ import annotations

import hashlib
import secrets
import time

from common.web.auth import Principal
from .backend import Conn

SESSION_MAX_AGE_S = 12 * 3600


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start_session(conn: Conn, name: str, address: str | None,
                  max_age_s: float = SESSION_MAX_AGE_S, now: float | None = None) -> str:
    """A new session for ``name``; returns the cookie value (shown to nobody else, never stored)."""
    now = time.time() if now is None else now
    cookie = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM sessions WHERE expires_epoch < ?", (now,))
    conn.execute("INSERT INTO sessions (id_sha256, name, created_epoch, expires_epoch, address) VALUES (?, ?, ?, ?, ?)",
                 (_sha(cookie), name, now, now + max_age_s, address))
    return cookie


def session_principal(conn: Conn, cookie: str, now: float | None = None) -> Principal | None:
    now = time.time() if now is None else now
    row = conn.execute("SELECT s.id_sha256, u.name, u.role, u.site FROM sessions s JOIN users u ON u.name = s.name "
                       "WHERE s.id_sha256=? AND s.expires_epoch > ? AND u.disabled = 0",
                       (_sha(cookie), now)).fetchone()
    if row is None:
        return None
    return Principal(name=row[1], role=row[2], via="session", session=row[0], site=row[3])


def end_session(conn: Conn, session_id_sha256: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_sha256=?", (session_id_sha256,))


def end_sessions(conn: Conn, name: str) -> int:
    """End every session of ``name``; how many there were."""
    return conn.execute("DELETE FROM sessions WHERE name=?", (name,)).rowcount
