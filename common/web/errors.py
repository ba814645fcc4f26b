"""Errors of the shared web layer: raised by endpoints, answered by :class:`common.web.pages.Pages`."""
from __future__ import annotations

from common.errors import MotcuaError


class WebError(MotcuaError):
    """Base of the web layer's errors."""


class NotLoggedIn(WebError):
    """The endpoint needs a logged-in user: a page redirects to the login, the API answers 401."""

    def __init__(self, page: bool):
        super().__init__("login required")
        self.page = page


class Forbidden(WebError):
    """The user is logged in but their role lacks a scope the endpoint needs (403)."""

    def __init__(self, missing: list[str]):
        super().__init__("missing scope: " + ", ".join(missing))
        self.missing = missing


class BodyTooLarge(WebError):
    """The request body went past the configured limit while it was being read (413)."""
