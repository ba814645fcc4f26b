"""Dashboard users: argon2id password hashes (argon2-cffi, deliberately slow), a role each
(``common.web.auth.ROLES``) and a disabled flag.

Setting a new password, disabling and deleting a user end every session of that user at once
(collector/sessions.py); deleting also revokes the tokens issued in the user's name.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.web.auth import ROLES
from mqtt import topics
from .backend import Conn
from .errors import BadPassword, BadRole, BadUserName, UnknownUser
from .sessions import end_sessions

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("motcua-dummy-password")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise BadUserName(f"name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-' (e.g. 'quanly')")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRole(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def add_user(conn: Conn, name: str, password: str, role: str | None = None,
             site: str | None = None) -> None:
    """Create the user (role ``manager`` unless given), or set a new password (and the role, when
    given) for an existing one, which ends that user's sessions and enables the user again. ``site``
    binds the user to one site (``"+"`` unbinds: the whole store, e.g. a province-wide login)."""
    check_name(name)
    if role is not None:
        check_role(role)
    if site is not None and site != "+":
        topics.check_id(site, "site")
    if len(password) < 8:
        raise BadPassword("the password must have at least 8 characters")
    conn.execute("INSERT INTO users (name, password_hash, created_at, role, disabled) VALUES (?, ?, ?, ?, 0) "
                 "ON CONFLICT(name) DO UPDATE SET password_hash=excluded.password_hash, disabled=0, "
                 "role=coalesce(?, users.role)",
                 (name, _hasher.hash(password), now_iso(), role or "manager", role))
    if site is not None:
        conn.execute("UPDATE users SET site=? WHERE name=?", (None if site == "+" else site, name))
    end_sessions(conn, name)


def verify_user(conn: Conn, name: str, password: str) -> str | None:
    """The user's role when the password is right and the user is enabled, else None (the hash
    is checked in every case, so a missing name takes as long as a wrong password)."""
    row = conn.execute("SELECT password_hash, role, disabled FROM users WHERE name=?", (name,)).fetchone()
    try:
        ok = _hasher.verify(row[0] if row else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not ok or row is None or row[2]:
        return None
    return str(row[1])


def set_disabled(conn: Conn, name: str, disabled: bool) -> None:
    if conn.execute("UPDATE users SET disabled=? WHERE name=?", (int(disabled), name)).rowcount == 0:
        raise UnknownUser(f"no user named {name!r}")
    if disabled:
        end_sessions(conn, name)


def delete_user(conn: Conn, name: str) -> int:
    """Delete the user, end their sessions and revoke their tokens; the number of tokens revoked."""
    if conn.execute("DELETE FROM users WHERE name=?", (name,)).rowcount == 0:
        raise UnknownUser(f"no user named {name!r}")
    end_sessions(conn, name)
    return conn.execute("UPDATE tokens SET revoked_at=? WHERE name=? AND revoked_at IS NULL",
                        (now_iso(), name)).rowcount


def list_users(conn: Conn) -> list[dict[str, object]]:
    rows = conn.execute("SELECT name, role, disabled, created_at, site FROM users ORDER BY name").fetchall()
    return [{"name": r[0], "role": r[1], "disabled": bool(r[2]), "created_at": r[3], "site": r[4]} for r in rows]


def create_token(conn: Conn, name: str, **kw: object) -> str:
    """Kept for callers of the old module: see :func:`collector.tokens.create_token`."""
    from .tokens import create_token as create
    return create(conn, name, **kw)  # type: ignore[arg-type]


def token_owner(conn: Conn, token: str) -> str | None:
    from .tokens import token_owner as owner
    return owner(conn, token)
