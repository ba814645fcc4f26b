"""Fonts with Vietnamese coverage, found on disk (nothing is downloaded): the Roboto that Kivy's wheel
bundles, then the system's DejaVu Sans (Debian ``fonts-dejavu-core``)."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from .errors import MotcuaError


class NoVietnameseFont(MotcuaError, LookupError):
    """No font that covers Vietnamese was found."""


def font_dirs() -> list[Path]:
    dirs = []
    spec = importlib.util.find_spec("kivy")  # locate, do not import (importing kivy sets up logging)
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "data" / "fonts")
    return dirs + [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]


@lru_cache(maxsize=4)
def vietnamese_font(bold: bool = False) -> Path:
    names = ["DejaVuSans-Bold.ttf", "Roboto-Bold.ttf"] if bold else ["DejaVuSans.ttf", "Roboto-Regular.ttf"]
    for d in font_dirs():
        for n in names:
            if (d / n).is_file():
                return d / n
    raise NoVietnameseFont("Không tìm thấy phông chữ tiếng Việt / no font with Vietnamese coverage found: "
                           "install fonts-dejavu-core (apt) or kivy (pip)")
