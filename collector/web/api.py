"""The JSON API's own routes (mounted at ``/api``; each area adds its ``api_routes`` next to them):
health (no login), desks, queue, ratings. Every list answers ``{"items": [...], "total": N}``; a
bad parameter answers 400 ``{"error": "bad_query", "message": ...}``."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import requires
from ..db import schema_version
from ..queries import BadQuery
from .state import int_param, site_param, web


def bad_query(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "bad_query", "message": str(exc)}, status_code=400)



def _listed(items: list[dict[str, Any]]) -> Response:
    return JSONResponse({"items": items, "total": len(items)})


def health(request: Request) -> Response:
    w = web(request)
    body = w.health()
    body["schema_version"] = schema_version(w.reader.conn)
    return JSONResponse(body, status_code=200 if body.get("status") == "ok" else 503)


@requires("dashboard")
def desks(request: Request) -> Response:
    return _listed(web(request).reader.desks(site_param(request)))


@requires("dashboard")
def queue(request: Request) -> Response:
    return _listed(web(request).reader.queue(site_param(request)))


@requires("ratings")
def ratings(request: Request) -> Response:
    q = request.query_params
    return JSONResponse(web(request).reader.ratings(
        from_=q.get("from"), to=q.get("to"), desk=int_param(request, "desk"), officer=q.get("officer") or None,
        service=q.get("service") or None, site=site_param(request), limit=int_param(request, "limit"),
        offset=int_param(request, "offset")))


routes = [
    Route("/health", health, name="api_health"),
    Route("/desks", desks, name="api_desks"),
    Route("/queue", queue, name="api_queue"),
    Route("/ratings", ratings, name="api_ratings"),
]
EXCEPTION_HANDLERS: dict[type[Exception], Any] = {BadQuery: bad_query}
