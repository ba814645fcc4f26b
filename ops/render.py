"""Set a few keys in a TOML config while keeping its comments and layout (for setup.sh).

``set_keys(text, {"site": "camau-hcc", "mqtt.url": "mqtt://srv:1883"})`` replaces the value of
each key in place, or adds it to its table (the table is added at the end when missing).
Only top-level keys and keys of top-level tables are supported, which is all setup needs.
"""
from __future__ import annotations

import json
import re
import tomllib
from typing import Any

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _table_span(lines: list[str], table: str) -> tuple[int, int] | None:
    """(first line after the header, end exclusive) of a table; ('' is the top level)."""
    start = 0 if table == "" else None
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            continue
        if start is not None:
            return start, i
        if m.group(1).replace(" ", "") == table and not line.lstrip().startswith("[["):
            start = i + 1
    return (start, len(lines)) if start is not None else None


def set_key(text: str, dotted: str, value: Any) -> str:
    table, _, key = dotted.rpartition(".")
    lines = text.splitlines()
    new = f"{key} = {toml_value(value)}"
    span = _table_span(lines, table)
    if span is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{table}]", new]
        return "\n".join(lines) + "\n"
    start, end = span
    pat = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    for i in range(start, end):
        if pat.match(lines[i]):
            comment = ""
            m = re.search(r"\s+#[^\"']*$", lines[i])
            if m and not isinstance(value, str):
                comment = m.group(0)
            lines[i] = new + comment
            return "\n".join(lines) + "\n"
    at = start
    if table == "":  # after the leading comment block
        while at < end and lines[at].lstrip().startswith("#"):
            at += 1
    else:
        last = start
        for i in range(start, end):
            if lines[i].strip() and not lines[i].lstrip().startswith("#"):
                last = i + 1
        at = last
    lines.insert(at, new)
    return "\n".join(lines) + "\n"


def set_keys(text: str, values: dict[str, Any]) -> str:
    for k, v in values.items():
        text = set_key(text, k, v)
    data = tomllib.loads(text)  # must still be valid TOML and hold what was asked
    for k, v in values.items():
        node: Any = data
        for part in k.split("."):
            node = node[part]
        if node != v:
            raise ValueError(f"could not set {k} (got {node!r})")
    return text
