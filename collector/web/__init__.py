"""The collector's web app (dashboard, reports, dead letters, devices, JSON API) on common/web.

One module per area, each with ``routes`` (pages) and, when it has JSON, ``api_routes`` (mounted
at ``/api``); the pages are templates in collector/templates extending common/web's base.html.
"""
from .app import create_app
from .live import LiveHub

__all__ = ["LiveHub", "create_app"]
