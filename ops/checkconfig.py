"""``motcua check-config FILE``: validate a role's config with the role's own model.

The role comes from ``--role`` or from the file name (kiosk.toml, rating-terminal.toml, ...);
the model from :func:`ops.roles.config_model`. Problems name the file, the line and the key.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import NamedTuple

from common.config import load_config
from common.errors import ConfigError

from .roles import Role, config_model


class Result(NamedTuple):
    path: Path
    role: Role
    problems: list[str]
    summary: str


def check_file(path: str | Path, role: Role) -> Result:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Result(p, role, [f"{p}: config file not found"], "")
    except (OSError, UnicodeDecodeError) as exc:
        return Result(p, role, [f"{p}: cannot read config: {exc}"], "")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return Result(p, role, [f"{p}:{m.group(1) if m else '?'}: not valid TOML: {exc}"], "")
    model = config_model(role)
    try:
        load_config(p, model)
    except ConfigError as exc:
        return Result(p, role, list(exc.problems), "")
    return Result(p, role, [], f"{p}: valid {role.name} config ({model.__name__})")
