"""ESC/POS bytes for one ticket on one printer.

- ``ESC @`` first: whatever a previous job left set (bold, size, margin) is reset.
- ``mode = "auto"``: what the python-escpos capability profile says the printer has is used:
  built-in Font A for lines that are plain ASCII (English, digits, the ticket label, scaled by
  ``GS !``), the printer's own QR code (``GS ( k``); only Vietnamese lines are raster
  (``GS v 0``), each as wide as its text and centred with the left margin (``GS L``).
- ``mode = "raster"``: every line is a full-width raster, for printers that take nothing else.
- The QR, when rastered, and the raster ticket label go at double width and height (``GS v 0``
  mode 3): a QR module is a square of dots anyway, so a quarter of the bytes loses nothing.
- Four QR modules of blank paper on every side of the QR (the standard's quiet zone).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import qrcode
from PIL import Image

from .glyphs import font, render_line, text_width, wrap
from .ticket import QR, Block, Feed, Line, Number, TicketContent, layout

ESC_AT = b"\x1b@"
QUIET = 4  # modules of quiet zone around a QR
MODULE_DOTS = 6  # dots per QR module (both paper widths)


@dataclass(frozen=True)
class Capabilities:
    """What of ESC/POS the printer understands beyond GS v 0 raster."""

    native_text: bool = False  # built-in Font A (12x24) for ASCII
    native_qr: bool = False  # GS ( k QR code, model 2
    columns: int = 48  # Font A characters per line at this paper width

    @classmethod
    def from_profile(cls, profile: Any, width_px: int, mode: str = "auto") -> "Capabilities":
        """From a python-escpos profile (``printer.profile``) and the configured paper width."""
        if mode == "raster":
            return cls(columns=width_px // 12)
        data = getattr(profile, "profile_data", profile) or {}
        features = data.get("features", {})
        fonts = data.get("fonts", {})
        font_a = fonts.get("0") or fonts.get(0)
        return cls(native_text=bool(font_a), native_qr=bool(features.get("qrCode")), columns=width_px // 12)


def _raster(img: Image.Image, m: int = 0) -> bytes:
    """``GS v 0 m`` for a mode "1" image (0 = ink); width padded to whole bytes."""
    ink = ~np.asarray(img.convert("1"), dtype=bool)
    h, w = ink.shape
    wb = (w + 7) // 8
    padded = np.zeros((h, wb * 8), dtype=bool)
    padded[:, :w] = ink
    data = np.packbits(padded, axis=1).tobytes()
    return b"\x1dv0" + bytes((m, wb % 256, wb // 256, h % 256, h // 256)) + data


def _margin(dots: int) -> bytes:
    return b"\x1dL" + bytes((dots % 256, dots // 256))


def _feed(dots: int) -> bytes:
    out = b""
    while dots > 0:
        n = min(255, dots)
        out += b"\x1bJ" + bytes((n,))
        dots -= n
    return out


def qr_matrix(data: str) -> np.ndarray:
    """The QR modules (True = dark), error correction M, no border."""
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0)
    q.add_data(data)
    q.make(fit=True)
    return np.array(q.get_matrix(), dtype=bool)


class TicketRenderer:
    """Encodes tickets ``width_px`` wide (384 for 58 mm paper, 576 for 80 mm) for ``caps``."""

    def __init__(self, width_px: int = 576, caps: Capabilities | None = None):
        if not 200 <= width_px <= 1000:
            raise ValueError(f"ticket width {width_px} px is not sensible (384 for 58 mm, 576 for 80 mm)")
        self.width = width_px
        self.caps = caps or Capabilities(columns=width_px // 12)
        self.narrow = width_px < 500
        self._cache: dict[Block, bytes] = {}  # the centre, services and labels repeat on every ticket

    def size(self, size80: int) -> int:
        """Text size in dots at this width: 58 mm keeps at least 18 dots (2.3 mm), tone marks whole."""
        return size80 if not self.narrow else max(18, round(size80 * 0.85))

    # -- blocks ---------------------------------------------------------------------------------

    def _text(self, b: Line) -> bytes:
        if self.caps.native_text and b.text.isascii():
            out = b"\x1ba\x01" + (b"\x1bE\x01" if b.bold else b"")
            for line in wrap(b.text, self.caps.columns, len):
                out += line.encode("ascii") + b"\n"
            return out + (b"\x1bE\x00" if b.bold else b"") + b"\x1ba\x00"
        size = self.size(b.size)
        f = font(size, b.bold)
        out = b""
        for line in wrap(b.text, self.width - 8, lambda s: text_width(s, f)):
            out += self._place(render_line(line, size, b.bold))
        return out

    def _place(self, img: Image.Image, m: int = 0) -> bytes:
        """A raster centred on the paper: cropped and shifted by GS L where the printer takes
        more than raster, else padded to the full width."""
        scale = 2 if m == 3 else 1
        if self.caps.native_text:  # GS L is as old as Font A: both or neither
            left = max(0, (self.width - img.width * scale) // 2)
            return _margin(left) + _raster(img, m) + _margin(0)
        left = max(0, (self.width // scale - img.width) // 2)  # padded on the left only: the
        full = Image.new("1", (left + img.width, img.height), 1)  # right of the ink is never sent
        full.paste(img, (left, 0))
        return _raster(full, m)

    def _number(self, b: Number) -> bytes:
        if self.caps.native_text and b.text.isascii():
            mult = max(1, min(6, self.caps.columns // max(1, len(b.text))))
            size = (mult - 1) * 0x11
            return (b"\x1ba\x01\x1bE\x01\x1d!" + bytes((size,)) + b.text.encode("ascii") + b"\n"
                    + b"\x1d!\x00\x1bE\x00\x1ba\x00")
        target = 150 if len(b.text) <= 4 else int(150 * 4 / len(b.text))
        return self._place(render_line(b.text, max(20, self.size(target) // 2), True), m=3)

    def _qr(self, b: QR) -> bytes:
        quiet = _feed(QUIET * MODULE_DOTS)
        if self.caps.native_qr:
            data = b.data.encode("utf-8")
            n = len(data) + 3

            def fn(cn: int, *args: int) -> bytes:
                return b"\x1d(k" + bytes((len(args) + 2, 0, 49, cn, *args))

            return (quiet + b"\x1ba\x01" + fn(65, 50, 0) + fn(67, MODULE_DOTS) + fn(69, 49)
                    + b"\x1d(k" + bytes((n % 256, n // 256, 49, 80, 48)) + data + fn(81, 48)
                    + b"\x1ba\x00" + quiet)
        mat = qr_matrix(b.data)
        k = MODULE_DOTS // 2  # doubled by GS v 0 mode 3
        img = Image.fromarray(np.where(np.kron(mat, np.ones((k, k), dtype=bool)), 0, 255).astype("uint8")).convert("1")
        return quiet + self._place(img, m=3) + quiet

    def block(self, b: Block) -> bytes:
        if isinstance(b, Line):
            got = self._cache.get(b)
            if got is None:
                if len(self._cache) > 512:
                    self._cache.clear()
                got = self._cache[b] = self._text(b)
            return got
        if isinstance(b, Number):
            return self._number(b)
        if isinstance(b, QR):
            return self._qr(b)
        return _feed(b.dots if not self.narrow else round(b.dots * 0.8))

    def encode(self, c: TicketContent) -> bytes:
        """The whole ticket, from ESC @ to the last line (the cut is the printer's job)."""
        return ESC_AT + b"".join(self.block(b) for b in layout(c)) + _feed(16)
