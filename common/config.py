"""Typed config trees loaded from TOML that refuse nonsense, naming file, line and key.

Each role defines pydantic models with ``model_config = STRICT`` (unknown keys refused) and
loads them with :func:`load_config`. Errors read like
``/etc/motcua/kiosk.toml:12: printer.width_mm: Input should be 58 or 80 (got 70)``.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

STRICT = ConfigDict(extra="forbid", frozen=False, validate_default=True)

M = TypeVar("M", bound=BaseModel)

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


class _Locator:
    """Finds the line of a key path (('desks', 2, 'number')) in TOML text, best effort."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        # (line number, table path, is array-of-tables)
        self.headers: list[tuple[int, str, bool]] = []
        for i, line in enumerate(self.lines, 1):
            m = _HEADER.match(line)
            if m:
                self.headers.append((i, m.group(1).replace(" ", ""), line.lstrip().startswith("[[")))

    def _key_line(self, key: str, start: int, end: int) -> int | None:
        pat = re.compile(rf'^\s*("?{re.escape(key)}"?)\s*=')
        for i in range(start, min(end, len(self.lines)) + 1):
            if pat.match(self.lines[i - 1]):
                return i
        return None

    def _section_end(self, start: int) -> int:
        for ln, _, _ in self.headers:
            if ln > start:
                return ln - 1
        return len(self.lines)

    def find(self, loc: tuple[Any, ...]) -> int | None:
        parts = [p for p in loc if isinstance(p, (str, int))]
        best: int | None = None
        table = ""
        start, end = 1, (self.headers[0][0] - 1) if self.headers else len(self.lines)
        i = 0
        while i < len(parts):
            p = parts[i]
            if isinstance(p, int):
                i += 1
                continue
            name = f"{table}.{p}" if table else p
            nxt = parts[i + 1] if i + 1 < len(parts) else None
            idx = nxt if isinstance(nxt, int) else None
            heads = [h for h in self.headers if h[1] == name]
            if heads:
                pick = heads[idx] if idx is not None and idx < len(heads) and heads[0][2] else heads[0]
                table, start = name, pick[0]
                end = self._section_end(start)
                best = pick[0]
                i += 2 if (idx is not None and heads[0][2]) else 1
                continue
            line = self._key_line(str(p), start, end)
            if line is None:
                # dotted or inline key somewhere in the table: search by bare name
                line = self._key_line(str(p), start, len(self.lines))
            if line is not None:
                best = line
                start = line
            i += 1
        return best


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


def validation_problems(path: str, text: str, err: ValidationError) -> list[str]:
    loc8r = _Locator(text)
    problems = []
    for e in err.errors():
        loc = tuple(e.get("loc", ()))
        line = loc8r.find(loc)
        where = f"{path}:{line}" if line else path
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key (not allowed here; check the spelling against the example config)"
        got = e.get("input")
        extra = ""
        if e.get("type") not in ("extra_forbidden", "missing") and not isinstance(got, (dict, list)):
            extra = f" (got {got!r})"
        problems.append(f"{where}: {_fmt_loc(loc)}: {msg}{extra}")
    return problems


def parse_config(text: str, model: type[M], path: str = "<config>") -> M:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        raise ConfigError(path, [f"{where}: not valid TOML: {exc}"]) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, validation_problems(path, text, exc)) from None


def load_config(path: str | Path, model: type[M]) -> M:
    """Read and validate a TOML file; raise ConfigError naming file, line and key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), [f"{p}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [f"{p}: cannot read config: {exc}"]) from None
    return parse_config(text, model, str(p))
