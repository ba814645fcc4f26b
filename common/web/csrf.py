"""CSRF protection for every state-changing request (POST, PUT, PATCH, DELETE), the login included.

Double submit: a random token in a ``SameSite=Strict`` cookie (set on the first answer) must come
back in the form field ``csrf_token`` or the ``X-CSRF-Token`` header; besides, a browser's
``Origin`` must be this server and ``Sec-Fetch-Site`` must not say another site. Requests that
authenticate with ``Authorization: Bearer`` are not checked: a browser never adds that header to a
cross-site request on its own.
"""
from __future__ import annotations

import hmac
import logging
import re
import secrets
from typing import Callable
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import bearer_token

log = logging.getLogger(__name__)

CSRF_COOKIE = "motcua_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")

Refuse = Callable[[Request, int, str], Response]


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms (``{{ csrf_field() }}`` in templates)."""
    return str(request.scope.get("csrf_token", ""))


def origin_problem(request: Request, trusted: frozenset[str]) -> str | None:
    """Why this browser request comes from another site, or None."""
    site = request.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own and origin not in trusted:
        return f"Origin {origin} is not {own}"
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


async def _sent_token(request: Request, body: bytes, receive: Receive) -> str | None:
    if CSRF_HEADER in request.headers:
        return request.headers[CSRF_HEADER]
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
        return values[0] if values else None
    if ctype.startswith("multipart/form-data"):
        form = await Request(request.scope, _replay(body, receive)).form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


class CSRFMiddleware:
    """See the module text. Runs inside the body limit, so the body it buffers is bounded."""

    def __init__(self, app: ASGIApp, *, refuse: Refuse, secure: bool = False,
                 trusted_origins: frozenset[str] = frozenset()):
        self.app = app
        self.refuse = refuse
        self.secure = secure
        self.trusted = trusted_origins

    def _cookie(self, token: str) -> str:
        return (f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                + ("; Secure" if self.secure else ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.cookies.get(CSRF_COOKIE, "")
        fresh = not _TOKEN.match(token)
        if fresh:
            token = secrets.token_urlsafe(32)
        scope["csrf_token"] = token

        async def send_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", self._cookie(token))
            await send(message)

        if request.method not in SAFE_METHODS and bearer_token(request) is None:
            problem = origin_problem(request, self.trusted)
            if problem is None:
                body = await _read_body(receive)
                receive = _replay(body, receive)
                sent = await _sent_token(request, body, receive)
                if fresh or not sent or not hmac.compare_digest(sent.encode(), token.encode()):
                    problem = "no CSRF token" if not sent else "wrong CSRF token"
            if problem:
                log.warning("refused %s %s: %s", request.method, request.url.path, problem)
                await self.refuse(request, 403, "err_403_csrf")(scope, receive, send_cookie)
                return
        await self.app(scope, receive, send_cookie)
