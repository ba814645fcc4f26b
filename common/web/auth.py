"""Who is asking: roles and their scopes, a cookie-or-bearer backend for Starlette's
``AuthenticationMiddleware`` and the ``requires`` decorator for endpoints.

A role is what a person is (``manager``, ``officer``, ``technician``, ``viewer``); a scope is what
an endpoint needs. ``requires("reports")`` on an endpoint lets in exactly the roles whose
``ROLE_SCOPES`` hold ``"reports"``. A principal may also be bound to one site (``Principal.site``): the
``province`` scope (every site at once) is then withheld, and each role's pages check the site asked. To add a scope, add it to the roles that get it here, then
name it in ``requires`` on the endpoints.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar, cast

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection, Request

from .errors import Forbidden, NotLoggedIn

ROLES = ("manager", "officer", "technician", "viewer")
ROLE_SCOPES: dict[str, frozenset[str]] = {
    # everything, including citizens' comments and phone numbers
    "manager": frozenset({"authenticated", "dashboard", "reports", "ratings", "dead_letters", "devices",
                          "citizen_data", "fleet", "province"}),
    # the devices, their faults and the messages that were refused; asking devices to update (fleet)
    "technician": frozenset({"authenticated", "dashboard", "devices", "dead_letters", "fleet"}),
    # an officer at a desk (the officer console)
    "officer": frozenset({"authenticated", "dashboard", "officer"}),
    # a wall screen or a visitor: the live dashboard (and the province page, when not bound to a site)
    "viewer": frozenset({"authenticated", "dashboard", "province"}),
}
SESSION_COOKIE = "motcua_session"


def scopes_for(role: str) -> list[str]:
    """The scopes of ``role`` (none for an unknown role: it gets in nowhere)."""
    return sorted(ROLE_SCOPES.get(role, frozenset()))


@dataclass(frozen=True)
class Principal(BaseUser):
    """A logged-in user (``via="session"``) or an API token's holder (``via="token"``)."""

    name: str
    role: str
    via: str = "session"
    session: str | None = None  # the session's id (its hash) for logout
    site: str | None = None  # bound to one site: sees that site only, everywhere (None: the whole store)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def identity(self) -> str:
        return self.name


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class CookieOrTokenBackend(AuthenticationBackend):
    """``Authorization: Bearer TOKEN`` when sent (a wrong token is not logged in, whatever the
    cookie), else the session cookie. Subclasses look the two up in their own store."""

    cookie_name = SESSION_COOKIE

    def session_principal(self, cookie: str) -> Principal | None:
        raise NotImplementedError

    def token_principal(self, token: str) -> Principal | None:
        raise NotImplementedError

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = bearer_token(conn)
        if token is not None:
            who = self.token_principal(token)
        else:
            cookie = conn.cookies.get(self.cookie_name)
            who = self.session_principal(cookie) if cookie else None
        if who is None:
            return None
        scopes = scopes_for(who.role)
        if who.site is not None:  # a login of one site never sees the province
            scopes = [s for s in scopes if s != "province"]
        return AuthCredentials(scopes), who


F = TypeVar("F", bound=Callable[..., Any])


def check(request: Request, scopes: tuple[str, ...], page: bool) -> None:
    """Raise :class:`NotLoggedIn` or :class:`Forbidden` unless the request holds every scope."""
    user = request.scope.get("user")
    if user is None or not user.is_authenticated:
        raise NotLoggedIn(page)
    held = set(request.scope["auth"].scopes)
    missing = [s for s in scopes if s not in held]
    if missing:
        raise Forbidden(missing)


def requires(*scopes: str, page: bool = False) -> Callable[[F], F]:
    """Like ``starlette.authentication.requires``, answered by the shared error pages: not logged
    in, a page (``page=True``) redirects to ``/login?next=...`` and the API answers 401 JSON; a
    missing scope answers 403. Works on sync and async endpoints taking ``request``."""
    def wrap(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(request: Request, *a: Any, **kw: Any) -> Any:
                check(request, scopes, page)
                return await cast(Callable[..., Awaitable[Any]], fn)(request, *a, **kw)
            return cast(F, run_async)

        @functools.wraps(fn)
        def run_sync(request: Request, *a: Any, **kw: Any) -> Any:
            check(request, scopes, page)
            return fn(request, *a, **kw)
        return cast(F, run_sync)
    return wrap


def current(request: Request) -> Principal:
    """The logged-in principal of an endpoint behind ``requires``."""
    return cast(Principal, request.scope["user"])
