"""Two pure ASGI middlewares: security headers on every answer, and a bound on request bodies that
refuses a too-large body before reading it (``Content-Length``) or as soon as it passes the bound
(chunked bodies)."""
from __future__ import annotations

import logging
from typing import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BodyTooLarge

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # 1 MiB: forms and JSON here are a few kilobytes
# no inline script or style anywhere: scripts and the stylesheet are files under /static
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

Refuse = Callable[[Request, int, str], Response]


def security_headers(secure: bool, csp: str = CSP) -> list[tuple[str, str]]:
    headers = [("content-security-policy", csp), ("x-frame-options", "DENY"),
               ("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin"),
               ("cross-origin-opener-policy", "same-origin"),
               ("permissions-policy", "camera=(), microphone=(), geolocation=()")]
    if secure:
        headers.append(("strict-transport-security", "max-age=31536000"))
    return headers


class SecurityHeadersMiddleware:
    """Adds :func:`security_headers` to every HTTP answer (an endpoint's own value wins)."""

    def __init__(self, app: ASGIApp, *, secure: bool = False, csp: str = CSP):
        self.app = app
        self.headers = security_headers(secure, csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                for k, v in self.headers:
                    if k not in h:
                        h.append(k, v)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuses (413) a body longer than ``max_bytes``: from its ``Content-Length`` before a byte of
    it is read, or, without one, as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES, refuse: Refuse):
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            log.warning("refused a %s-byte body on %s (limit %d)", declared, scope.get("path"), self.max_bytes)
            await self.refuse(Request(scope), 413, "err_413")(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(f"more than {self.max_bytes} bytes")
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            log.warning("refused a chunked body past %d bytes on %s", self.max_bytes, scope.get("path"))
            if not started:
                await self.refuse(Request(scope), 413, "err_413")(scope, receive, send)
