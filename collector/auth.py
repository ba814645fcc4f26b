"""Dashboard users, API tokens and login sessions.

- passwords: argon2id (argon2-cffi), a deliberately slow hash;
- API tokens: 32 random bytes shown once; only their sha256 is stored;
- sessions: a signed, timed cookie (itsdangerous) whose key lives in the database's ``meta`` table,
  so a restarted collector keeps its users logged in.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .errors import BadPassword, BadUserName

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SESSION_MAX_AGE_S = 12 * 3600
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("motcua-dummy-password")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise BadUserName(f"name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-' (e.g. 'quanly')")
    return name


def add_user(conn: sqlite3.Connection, name: str, password: str) -> None:
    """Create the user, or set a new password if the user exists."""
    check_name(name)
    if len(password) < 8:
        raise BadPassword("the password must have at least 8 characters")
    conn.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT(name) "
                 "DO UPDATE SET password_hash=excluded.password_hash", (name, _hasher.hash(password), _now()))


def verify_user(conn: sqlite3.Connection, name: str, password: str) -> bool:
    row = conn.execute("SELECT password_hash FROM users WHERE name=?", (name,)).fetchone()
    try:
        return _hasher.verify(row[0] if row else _DUMMY, password) and row is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_token(conn: sqlite3.Connection, name: str) -> str:
    check_name(name)
    token = "mct_" + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO tokens (name, token_sha256, created_at) VALUES (?, ?, ?)",
                 (name, hashlib.sha256(token.encode()).hexdigest(), _now()))
    return token


def token_owner(conn: sqlite3.Connection, token: str) -> str | None:
    row = conn.execute("SELECT name FROM tokens WHERE token_sha256=?",
                       (hashlib.sha256(token.encode()).hexdigest(),)).fetchone()
    return row[0] if row else None


def session_serializer(conn: sqlite3.Connection) -> URLSafeTimedSerializer:
    row = conn.execute("SELECT value FROM meta WHERE key='session_secret'").fetchone()
    if row is None:
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('session_secret', ?)", (secrets.token_hex(32),))
        row = conn.execute("SELECT value FROM meta WHERE key='session_secret'").fetchone()
    return URLSafeTimedSerializer(row[0], salt="motcua-collector-session")


def session_user(serializer: URLSafeTimedSerializer, cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        data = serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
    except BadSignature:
        return None
    return data.get("u") if isinstance(data, dict) else None
