"""Test helpers for the web layer over HTTP: the CSRF token a page's forms carry, and a login
through the real form (GET /login, then POST with the token), as a browser does it."""
from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx

from tests.collector.wire import ROOT

TOKEN = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]+)"')


def csrf(client: Any, path: str = "/login") -> str:
    """The CSRF token of ``path``'s forms (the client keeps the cookie that goes with it)."""
    r = client.get(path)
    m = TOKEN.search(r.text)
    assert m, f"no CSRF field on {path}: {r.status_code}"
    return m.group(1)


def post_form(client: Any, path: str, data: dict[str, str], token_from: str = "/login") -> httpx.Response:
    return client.post(path, data={**data, "csrf_token": csrf(client, token_from)})


def login(client: Any, user: str, password: str, **extra: str) -> httpx.Response:
    return post_form(client, "/login", {"user": user, "password": password, **extra})


def logout(client: Any) -> httpx.Response:
    return post_form(client, "/logout", {}, token_from="/login")


def cli(*args: str, stdin: str = "") -> "subprocess.CompletedProcess[str]":
    """``python -m collector ARGS`` as an operator types it."""
    return subprocess.run([sys.executable, "-m", "collector", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
