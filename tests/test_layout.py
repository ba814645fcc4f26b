"""The shape of the project: every command documented with an example, each role runnable alone,
and the dependency rules of docs/architecture.md."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("rating_terminal", "kiosk", "camera_agent", "ticketing", "collector")
ENV = dict(os.environ, PYTHONPATH=str(ROOT), KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name):
    r = run("-m", "common", name, "--help")
    assert r.returncode == 0, r.stderr
    assert "example" in r.stdout.lower(), f"motcua {name} --help shows no example:\n{r.stdout}"


def test_top_level_help_lists_every_command():
    r = run("-m", "common", "--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert name in r.stdout


def test_unknown_command_is_refused_clearly():
    r = run("-m", "common", "selfie")
    assert r.returncode == 2 and "unknown command 'selfie'" in r.stderr


@pytest.mark.parametrize("pkg", ROLES)
def test_each_role_runs_as_python_m(pkg):
    r = run("-m", pkg, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage" in r.stdout.lower()


def imports_of(pkg: str) -> set[str]:
    found = set()
    for f in (ROOT / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("pkg", ROLES)
def test_no_role_imports_another_role(pkg):
    others = set(ROLES) - {pkg}
    assert imports_of(pkg) & others == set()


@pytest.mark.parametrize("pkg", ("mqtt", "common"))
def test_the_core_knows_no_role(pkg):
    assert imports_of(pkg) & (set(ROLES) | {"ops", "demo"}) == set()
