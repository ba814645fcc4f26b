"""Pages: one Jinja2 environment (autoescape on, undefined names are errors) over the role's
templates and the shared ``base.html`` and ``error.html``; every page extends ``base.html``.

Every template sees ``lang``, ``other_lang``, ``t`` (the role's labels and :data:`COMMON` in
``lang``), ``user`` (a :class:`Principal` or None), ``nav`` (the links the user's scopes allow),
``csrf_field()`` (the hidden CSRF input for a POST form), ``csrf_token`` and ``lang_href(lang)``
(this page in the other language).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from .auth import bearer_token
from .csrf import CSRF_FIELD, csrf_token
from .errors import Forbidden, NotLoggedIn
from .i18n import COMMON, Table, other_lang, pick, remember_lang, request_lang

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NavLink:
    """A link in the page header, shown to users holding ``scope``; ``label``: a key of ``t``."""

    href: str
    label: str
    scope: str
    id: str = ""


def wants_json(request: Request) -> bool:
    path = request.url.path
    accept = request.headers.get("accept", "")
    return (path.startswith("/api/") or path == "/events" or bearer_token(request) is not None
            or ("text/html" not in accept and "application/json" in accept))


def safe_next(nxt: str | None) -> str:
    """Where to go after login: a path on this server only (never ``//host`` or ``/\\host``)."""
    if not nxt or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/"
    return nxt


class Pages:
    """The role's templates, labels and header links; renders pages and the bilingual errors."""

    def __init__(self, template_dirs: Sequence[Path], labels: Table, *, nav: Sequence[NavLink] = (),
                 login_path: str = "/login"):
        self.labels: dict[str, tuple[str, str]] = {**COMMON, **labels}
        self.nav = list(nav)
        self.login_path = login_path
        loader = ChoiceLoader([FileSystemLoader([str(d) for d in template_dirs]), FileSystemLoader(str(TEMPLATES))])
        env = Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson_script"] = _json_for_script
        self.templates = Jinja2Templates(env=env, context_processors=[self._context])

    def t(self, lang: str) -> dict[str, str]:
        return pick(self.labels, lang)

    def _context(self, request: Request) -> dict[str, Any]:
        lang = request_lang(request)
        user = request.scope.get("user")
        user = user if user is not None and user.is_authenticated else None
        scopes = set(request.scope["auth"].scopes) if "auth" in request.scope else set()
        token = csrf_token(request)

        def lang_href(to: str) -> str:
            q = dict(request.query_params) | {"lang": to}
            return f"{request.url.path}?{urlencode(q)}"

        return {"lang": lang, "other_lang": other_lang(lang), "t": self.t(lang), "user": user,
                "nav": [n for n in self.nav if n.scope in scopes], "csrf_token": token, "lang_href": lang_href,
                "path": request.url.path,
                "csrf_field": lambda: Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">')}

    def render(self, request: Request, name: str, context: Mapping[str, Any] | None = None, *,
               status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        """``name`` rendered for ``request``; the answer is never cached and keeps a ``?lang=``."""
        h = {"Cache-Control": "no-store", **(headers or {})}
        resp = self.templates.TemplateResponse(request, name, dict(context or {}), status_code=status, headers=h)
        return remember_lang(request, resp)

    def error(self, request: Request, status: int, key: str, detail: str | None = None,
              headers: Mapping[str, str] | None = None) -> Response:
        """A bilingual error: JSON for the API (``error``, ``message_vi``, ``message_en``), else
        ``error.html`` in the request's language with the other language under it."""
        vi, en = self.labels.get(key, COMMON.get(f"err_{status}", COMMON["err_500"]))
        if wants_json(request):
            body: dict[str, Any] = {"error": _ERROR_NAMES.get(status, "error"), "message_vi": vi, "message_en": en}
            if detail:
                body["message"] = detail
            return JSONResponse(body, status_code=status, headers=dict(headers or {}))
        lang = request_lang(request)
        first, second = (en, vi) if lang == "en" else (vi, en)
        return self.render(request, "error.html", {"status": status, "message": first, "other_message": second,
                                                   "detail": detail}, status=status, headers=headers)

    def refuse(self, request: Request, status: int, key: str) -> Response:
        """For the middlewares (CSRF, body limit): the error page, no user known yet."""
        return self.error(request, status, key)

    def exception_handlers(self) -> dict[Any, Any]:
        async def not_logged_in(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, NotLoggedIn)
            if exc.page and not wants_json(request):
                nxt = request.url.path + ("?" + request.url.query if request.url.query else "")
                to = self.login_path + ("" if nxt == "/" else "?" + urlencode({"next": nxt}))
                return remember_lang(request, RedirectResponse(to, status_code=303))
            return self.error(request, 401, "err_401", headers={"WWW-Authenticate": 'Bearer realm="motcua"'})

        async def forbidden(request: Request, exc: Exception) -> Response:
            return self.error(request, 403, "err_403", detail=str(exc))

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return self.error(request, exc.status_code, f"err_{exc.status_code}", headers=exc.headers)

        async def server_error(request: Request, exc: Exception) -> Response:
            log.error("error answering %s %s", request.method, request.url.path, exc_info=exc)
            return self.error(request, 500, "err_500")

        return {NotLoggedIn: not_logged_in, Forbidden: forbidden, HTTPException: http_error, 500: server_error}


_ERROR_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "too_large", 429: "too_many", 500: "server_error"}


def _json_for_script(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</`` can close the element)."""
    text = json.dumps(value, ensure_ascii=False, default=str).replace("</", "<\\/").replace("<!--", "<\\!--")
    return Markup(text)
