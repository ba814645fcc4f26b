"""``build_app``: a role's routes behind the shared middlewares, in this order (outermost first):

1. ``SecurityHeadersMiddleware``: CSP, X-Frame-Options, nosniff, Referrer-Policy on every answer;
2. ``BodyLimitMiddleware``: 413 for a body past ``max_body_bytes``, before it is read;
3. ``CSRFMiddleware``: 403 for a state-changing request without this site's token;
4. ``AuthenticationMiddleware`` with the role's backend: ``request.user``, ``request.auth.scopes``;
5. the routes, whose ``NotLoggedIn``/``Forbidden``/``HTTPException`` become the bilingual error
   pages of :class:`Pages`.

``/static`` serves the role's own static files and the shared ``motcua.css``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from starlette.applications import Starlette
from starlette.authentication import AuthenticationBackend
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Lifespan

from .csrf import CSRFMiddleware
from .pages import Pages
from .security import CSP, MAX_BODY_BYTES, BodyLimitMiddleware, SecurityHeadersMiddleware


@dataclass(frozen=True)
class WebSettings:
    """``secure_cookies``: the site is served over TLS (cookies get ``Secure``, HSTS is sent)."""

    secure_cookies: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    trusted_origins: frozenset[str] = frozenset()
    csp: str = CSP


def build_app(routes: Sequence[BaseRoute], *, pages: Pages, backend: AuthenticationBackend,
              settings: WebSettings = WebSettings(), static_package: str | None = None,
              lifespan: Lifespan[Any] | None = None) -> Starlette:
    """The Starlette app; ``static_package``: the role's package holding a ``static/`` folder."""
    packages: list[str | tuple[str, str]] = [("common.web", "static")]
    if static_package:
        packages.insert(0, (static_package, "static"))
    middleware = [
        Middleware(SecurityHeadersMiddleware, secure=settings.secure_cookies, csp=settings.csp),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, refuse=pages.refuse),
        Middleware(CSRFMiddleware, refuse=pages.refuse, secure=settings.secure_cookies,
                   trusted_origins=settings.trusted_origins),
        Middleware(AuthenticationMiddleware, backend=backend),
    ]
    all_routes = [*routes, Mount("/static", StaticFiles(packages=packages), name="static")]
    return Starlette(routes=all_routes, middleware=middleware, exception_handlers=pages.exception_handlers(),
                     lifespan=lifespan)
