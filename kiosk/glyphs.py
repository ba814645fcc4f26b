"""Text for a 1-bit thermal head: glyphs rasterised by FreeType's hinted monochrome mode
(Pillow's ``fontmode = "1"``), never anti-aliased grey cut at 50 %, so each stroke of a tone mark
lands on whole dots and survives on 58 mm paper."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw, ImageFont

from .errors import KioskError


def font_dirs() -> list[Path]:
    """Kivy's bundled fonts (Roboto covers Vietnamese), then the system's DejaVu."""
    dirs = []
    spec = importlib.util.find_spec("kivy")  # locate, do not import (importing kivy sets up logging)
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "data" / "fonts")
    dirs += [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
    return dirs


@lru_cache(maxsize=4)
def font_path(bold: bool) -> str:
    names = ["Roboto-Bold.ttf", "DejaVuSans-Bold.ttf"] if bold else ["Roboto-Regular.ttf", "DejaVuSans.ttf"]
    for d in font_dirs():
        for n in names:
            if (d / n).is_file():
                return str(d / n)
    raise KioskError("no font with Vietnamese coverage found (Roboto from Kivy or DejaVu Sans)")


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(bold), size)


@lru_cache(maxsize=64)
def line_box(f: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """(top, height) of a line that holds every Vietnamese stack (e.g. "Ễ", "ậ") in font ``f``."""
    top = min(0, int(f.getbbox("ỄỖẪ")[1]))
    bottom = max(int(f.getbbox("gyịậ")[3]), f.getmetrics()[0])
    return top, bottom - top


def text_width(text: str, f: ImageFont.FreeTypeFont) -> int:
    return int(round(f.getlength(text)))


def render_line(text: str, size: int, bold: bool = False) -> Image.Image:
    """One line of text as a mode "1" image (0 = ink), exactly as wide as the text, as tall as
    the font's Vietnamese line box (so lines of one size line up)."""
    f = font(size, bold)
    top, height = line_box(f)
    width = max(1, text_width(text, f) + 2)
    img = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"  # FreeType hinted monochrome: no grey to threshold
    draw.text((1, -top), text, font=f, fill=0)
    return img


def wrap(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Greedy word wrap to ``limit`` units as measured by ``measure`` (dots or columns)."""
    if "\n" not in text and measure(text) <= limit:
        return [text]  # the common case: one measurement
    lines: list[str] = []
    for para in text.split("\n"):
        cur = ""
        for word in para.split():
            trial = f"{cur} {word}".strip()
            if measure(trial) <= limit or not cur:
                cur = trial
            else:
                lines.append(cur)
                cur = word
        lines.append(cur)
    return lines
