"""Reads ESC/POS bytes back the way a thermal printer lays them on paper: an independent little
interpreter (its own parser, not the kiosk's encoder) for the commands a ticket may use, plus a
QR decoder over the resulting bitmap (OpenCV).

Understood: ESC @, ESC a, ESC E, ESC J, ESC d, ESC t, GS !, GS L, GS v 0 (modes 0-3 and 48-51),
GS ( k (QR model 2: size, error level, store, print), GS V, DLE EOT, LF and printable ASCII in
Font A (12x24 cells, drawn with a monospace TrueType font). Anything else raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import qrcode
from PIL import Image, ImageDraw, ImageFont

GS_V0 = b"\x1dv0"
CELL_W, CELL_H = 12, 24
_EC = {48: qrcode.constants.ERROR_CORRECT_L, 49: qrcode.constants.ERROR_CORRECT_M,
       50: qrcode.constants.ERROR_CORRECT_Q, 51: qrcode.constants.ERROR_CORRECT_H}


def _mono(bold: bool) -> ImageFont.FreeTypeFont:
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    return ImageFont.truetype(f"/usr/share/fonts/truetype/dejavu/{name}", 19)


@dataclass
class Paper:
    """What came out of the printer: the bitmap (True = black dot), every text line printed
    with the built-in font, the QR codes printed by GS ( k, and counts of the commands."""

    width: int
    rows: list[np.ndarray] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    native_qr: list[str] = field(default_factory=list)
    rasters: int = 0
    resets: int = 0
    cuts: int = 0
    first_command: bytes = b""

    @property
    def bitmap(self) -> np.ndarray:
        return np.vstack(self.rows) if self.rows else np.zeros((0, self.width), dtype=bool)

    def put(self, block: np.ndarray, left: int) -> None:
        h, w = block.shape
        w = min(w, self.width - left)
        row = np.zeros((h, self.width), dtype=bool)
        row[:, left:left + w] = block[:, :w]
        self.rows.append(row)


def _aligned(width: int, w: int, align: int, margin: int) -> int:
    if align == 1:
        return max(margin, margin + (width - margin - w) // 2)
    if align == 2:
        return max(margin, width - w)
    return margin


class _Interp:
    def __init__(self, data: bytes, width: int):
        self.d = data
        self.i = 0
        self.p = Paper(width)
        self.reset()
        self.text = ""
        self.qr_data = b""
        self.qr_size = 3
        self.qr_ec = 48

    def reset(self) -> None:
        self.align = 0
        self.bold = False
        self.mult = (1, 1)
        self.margin = 0

    def flush_text(self, force: bool = False) -> None:
        if not self.text and not force:
            return
        mw, mh = self.mult
        cell = Image.new("L", (CELL_W * len(self.text) or 1, CELL_H), 255)
        ImageDraw.Draw(cell).text((0, 1), self.text, font=_mono(self.bold), fill=0)
        img = np.asarray(cell) < 128
        img = np.kron(img, np.ones((mh, mw), dtype=bool))
        self.p.put(img, _aligned(self.p.width, img.shape[1], self.align, self.margin))
        if self.text:
            self.p.texts.append(self.text)
        self.text = ""

    def take(self, n: int) -> bytes:
        out = self.d[self.i:self.i + n]
        assert len(out) == n, f"truncated command at byte {self.i}"
        self.i += n
        return out

    def run(self) -> Paper:
        while self.i < len(self.d):
            start = self.i
            b = self.d[self.i]
            if b in (0x1B, 0x1D, 0x10):
                self.command()
                if not self.p.first_command:
                    self.p.first_command = self.d[start:self.i]
            elif b == 0x0A:
                self.i += 1
                self.flush_text(force=True)
            elif 0x20 <= b < 0x7F:
                self.text += chr(b)
                self.i += 1
            else:
                raise AssertionError(f"unexpected byte 0x{b:02x} at {self.i}")
        self.flush_text()
        return self.p

    def command(self) -> None:
        two = self.take(2)
        if two == b"\x1b@":
            self.reset()
            self.p.resets += 1
        elif two == b"\x1ba":
            self.align = self.take(1)[0] % 48
        elif two == b"\x1bE":
            self.bold = bool(self.take(1)[0] & 1)
        elif two == b"\x1bt":
            self.take(1)
        elif two == b"\x1bJ":
            self.flush_text()
            self.p.rows.append(np.zeros((self.take(1)[0], self.p.width), dtype=bool))
        elif two == b"\x1bd":
            self.flush_text()
            self.p.rows.append(np.zeros((self.take(1)[0] * CELL_H, self.p.width), dtype=bool))
        elif two == b"\x1d!":
            n = self.take(1)[0]
            self.mult = ((n >> 4) + 1, (n & 0x0F) + 1)
        elif two == b"\x1dL":
            lo, hi = self.take(2)
            self.margin = lo + 256 * hi
        elif two == b"\x1dV":
            m = self.take(1)[0]
            if m in (65, 66):
                self.take(1)
            self.p.cuts += 1
        elif two == b"\x10\x04":
            self.take(1)
        elif two == b"\x1dv":
            self.raster()
        elif two == b"\x1d(":
            self.function()
        else:
            raise AssertionError(f"unknown command {two!r} at byte {self.i - 2}")

    def raster(self) -> None:
        assert self.take(1) == b"0"
        m, xl, xh, yl, yh = self.take(5)
        assert m in (0, 1, 2, 3, 48, 49, 50, 51), f"bad GS v 0 mode {m}"
        wb, h = xl + 256 * xh, yl + 256 * yh
        raw = np.frombuffer(self.take(wb * h), dtype=np.uint8).reshape(h, wb)
        img = np.unpackbits(raw, axis=1).astype(bool)
        sx, sy = (2 if m % 48 in (1, 3) else 1), (2 if m % 48 in (2, 3) else 1)
        img = np.kron(img, np.ones((sy, sx), dtype=bool))
        self.flush_text()
        self.p.put(img, self.margin)
        self.p.rasters += 1

    def function(self) -> None:
        kind = self.take(1)
        pl, ph = self.take(2)
        body = self.take(pl + 256 * ph)
        assert kind == b"k" and body[0] == 49, f"only GS ( k QR (cn 49) is understood, got {kind!r} {body[:2]!r}"
        fn = body[1]
        if fn == 65:
            assert body[2] == 50, "QR model 2 expected"
        elif fn == 67:
            self.qr_size = body[2]
        elif fn == 69:
            self.qr_ec = body[2]
        elif fn == 80:
            self.qr_data = body[3:]
        elif fn == 81:
            q = qrcode.QRCode(error_correction=_EC[self.qr_ec], box_size=1, border=0)
            q.add_data(self.qr_data.decode("utf-8"))
            q.make(fit=True)
            mat = np.array(q.get_matrix(), dtype=bool)
            img = np.kron(mat, np.ones((self.qr_size, self.qr_size), dtype=bool))
            self.flush_text()
            self.p.put(img, _aligned(self.p.width, img.shape[1], self.align, self.margin))
            self.p.native_qr.append(self.qr_data.decode("utf-8"))
        else:
            raise AssertionError(f"QR function {fn} not understood")


def print_out(data: bytes, width: int) -> Paper:
    """Run the bytes through the interpreter on paper ``width`` dots wide."""
    return _Interp(data, width).run()


def raster_blocks(data: bytes) -> list[np.ndarray]:
    """Every GS v 0 image in the stream as a bool array (True = black dot), as sent (unscaled)."""
    out = []
    i = 0
    while True:
        i = data.find(GS_V0, i)
        if i < 0:
            return out
        m, xl, xh, yl, yh = data[i + 3:i + 8]
        assert m in (0, 1, 2, 3, 48, 49, 50, 51), f"bad GS v 0 mode {m}"
        width_bytes, height = xl + 256 * xh, yl + 256 * yh
        start = i + 8
        raw = np.frombuffer(data[start:start + width_bytes * height], dtype=np.uint8)
        assert raw.size == width_bytes * height, "truncated raster data"
        out.append(np.unpackbits(raw.reshape(height, width_bytes), axis=1).astype(bool))
        i = start + width_bytes * height


def ticket_bitmap(data: bytes, width: int = 576) -> np.ndarray:
    """The whole ticket as printed, top to bottom."""
    return print_out(data, width).bitmap


def decode_qr(bitmap: np.ndarray) -> str:
    """Decode the QR code in a bitmap (True = black); '' if none is found."""
    gray = np.where(bitmap, 0, 255).astype(np.uint8)
    det = cv2.QRCodeDetector()
    for scale in (1, 2, 3, 4):
        img = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale > 1 else gray
        img = cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
        text, _pts, _ = det.detectAndDecode(img)
        if text:
            return text
    return ""


def degrade(bitmap: np.ndarray) -> np.ndarray:
    """A worn copy: half resolution, then a blur (grey levels, as a phone camera would see)."""
    gray = np.where(bitmap, 0, 255).astype(np.uint8)
    half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(half, (3, 3), 0.9)


def decode_qr_gray(gray: np.ndarray) -> str:
    det = cv2.QRCodeDetector()
    for scale in (1, 2, 3):
        img = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else gray
        img = cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
        text, _pts, _ = det.detectAndDecode(img)
        if text:
            return text
    return ""
