"""The devices area: ``GET /devices`` (every device's state, telemetry and faults as one table
that becomes one card per device on a phone) and ``GET /api/devices``."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import requires
from .state import site_param, web



@requires("devices", page=True)
def devices_page(request: Request) -> Response:
    w = web(request)
    return w.pages.render(request, "devices.html", {"devices": w.reader.devices(site_param(request))})


@requires("dashboard")
def devices_api(request: Request) -> Response:
    items = web(request).reader.devices(site_param(request))
    return JSONResponse({"items": items, "total": len(items)})


routes = [Route("/devices", devices_page, name="devices")]
api_routes = [Route("/devices", devices_api, name="api_devices")]
