"""The dashboard area: ``GET /`` renders the shell; static/dashboard.js fills the panels from the
snapshot embedded in the page, then from every server-sent event (``/events``)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from common.web.auth import requires
from common.web.i18n import request_lang
from .state import site_param, web


@requires("dashboard", page=True)
def dashboard(request: Request) -> Response:
    w = web(request)
    lang = request_lang(request)
    site = site_param(request)
    boot = {"lang": lang, "labels": w.pages.t(lang), "tz": w.tz, "site": site, "snapshot": w.reader.snapshot(site)}
    return w.pages.render(request, "dashboard.html", {"boot": boot})


routes = [Route("/", dashboard, name="dashboard")]
