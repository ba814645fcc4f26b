"""Serial peripherals, both optional: the counter display and the badge reader.

Each driver takes an open pyserial port object (``serial.serial_for_url(url)``), so tests use
``loop://`` or a socat pty. Another display model is one new :class:`CounterDisplay` subclass.
The line protocol of :class:`LineDisplay` is documented in docs/rating_terminal.md.
"""
from __future__ import annotations

import logging
import threading
import unicodedata
from typing import Any, Callable

import serial

from .config import BadgeConfig, DisplayConfig
from .errors import BadCard, PeripheralError

log = logging.getLogger(__name__)

MAX_CARD_LEN = 64


def fold_ascii(text: str) -> str:
    """Vietnamese without diacritics, for displays that have no such glyphs: 'MẤT KẾT NỐI' -> 'MAT KET NOI'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


class CounterDisplay:
    """A display at the desk showing the ticket being served (or a message).

    Subclasses implement :meth:`render_ticket`, :meth:`render_message` and :meth:`render_clear`
    returning the bytes to send; this class writes them and turns serial errors into
    :class:`PeripheralError`.
    """

    def __init__(self, port: Any, width: int = 20, encoding: str = "utf-8"):
        self.port = port
        self.width = width
        self.encoding = encoding
        self._lock = threading.Lock()

    def text(self, s: str) -> bytes:
        if self.encoding == "ascii":
            s = fold_ascii(s)
        s = "".join(ch for ch in s if ch.isprintable())
        return s[: self.width].encode(self.encoding, "replace")

    def render_ticket(self, desk: int, ticket: str | None) -> bytes:
        raise NotImplementedError

    def render_message(self, message_vi: str, message_en: str) -> bytes:
        raise NotImplementedError

    def render_clear(self) -> bytes:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        with self._lock:
            try:
                self.port.write(data)
                self.port.flush()
            except (serial.SerialException, OSError, ValueError) as exc:  # ValueError: closed under us
                raise PeripheralError(f"counter display {getattr(self.port, 'name', self.port)}: {exc}") from exc

    def show_ticket(self, desk: int, ticket: str | None) -> None:
        """The ticket being served at this desk; None shows the desk as idle."""
        self._write(self.render_ticket(desk, ticket))

    def show_message(self, message_vi: str, message_en: str) -> None:
        self._write(self.render_message(message_vi, message_en))

    def clear(self) -> None:
        self._write(self.render_clear())

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass


class LineDisplay(CounterDisplay):
    """motcua line protocol v1: one command per line, ending CR LF.

    ``NUM <desk> <ticket>``, ``IDLE <desk>``, ``MSG <vi>|<en>``, ``CLR``.
    """

    def render_ticket(self, desk: int, ticket: str | None) -> bytes:
        if ticket is None:
            return b"IDLE %02d\r\n" % desk
        return b"NUM %02d " % desk + self.text(ticket.replace(" ", "")) + b"\r\n"

    def render_message(self, message_vi: str, message_en: str) -> bytes:
        return b"MSG " + self.text(message_vi.replace("|", "/")) + b"|" + self.text(message_en.replace("|", "/")) + b"\r\n"

    def render_clear(self) -> bytes:
        return b"CLR\r\n"


class Cd5220Display(CounterDisplay):
    """2x20 VFD customer display speaking the CD5220 command set (ASCII only).

    ``ESC @`` init, ``FF`` clear, ``ESC Q A <text> CR`` upper line, ``ESC Q B <text> CR`` lower line.
    """

    def __init__(self, port: Any, width: int = 20, encoding: str = "ascii"):
        super().__init__(port, width, "ascii")
        self._write(b"\x1b@")

    def _lines(self, upper: str, lower: str) -> bytes:
        up = self.text(upper).ljust(self.width)
        lo = self.text(lower).ljust(self.width)
        return b"\x0c\x1bQA" + up + b"\r\x1bQB" + lo + b"\r"

    def render_ticket(self, desk: int, ticket: str | None) -> bytes:
        return self._lines(f"QUAY {desk:02d} / DESK {desk:02d}", f"SO {ticket}" if ticket else "---")

    def render_message(self, message_vi: str, message_en: str) -> bytes:
        return self._lines(message_vi, message_en)

    def render_clear(self) -> bytes:
        return b"\x0c"


DISPLAY_MODELS: dict[str, type[CounterDisplay]] = {"line": LineDisplay, "cd5220": Cd5220Display}


def open_port(url: str, baudrate: int, timeout: float | None = 0.5) -> Any:
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PeripheralError(f"cannot open serial port {url!r}: {exc} (is it plugged in? is the user "
                              f"in the 'dialout' group?)") from exc


def make_display(cfg: DisplayConfig, port: Any | None = None) -> CounterDisplay:
    """The display driver for cfg.model, on ``port`` or on the port cfg names."""
    port = port if port is not None else open_port(cfg.port, cfg.baudrate)
    return DISPLAY_MODELS[cfg.model](port, cfg.width, cfg.encoding)


def check_card(line: str) -> str:
    card = line.strip()
    if not card:
        raise BadCard("empty badge line")
    if len(card) > MAX_CARD_LEN:
        raise BadCard(f"card id of {len(card)} characters is longer than {MAX_CARD_LEN}")
    if not card.isprintable():
        raise BadCard(f"card id {card!r} holds control characters")
    return card


class BadgeReader:
    """Reads one card id per line from a serial badge reader and calls ``on_card(card_id)``."""

    def __init__(self, port: Any, on_card: Callable[[str], object],
                 on_error: Callable[[Exception], None] | None = None):
        self.port = port
        self.on_card = on_card
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._buf = b""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="badge-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

    def feed(self, data: bytes) -> list[str]:
        """Split bytes into card lines (CR, LF or CR LF); return the complete ones."""
        self._buf += data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._buf = self._buf.split(b"\n")
        if len(self._buf) > 4 * MAX_CARD_LEN:  # a reader that never ends a line: drop the garbage
            log.warning("badge reader sent %d bytes without a line end; discarded", len(self._buf))
            self._buf = b""
        out = []
        for raw in lines:
            try:
                out.append(check_card(raw.decode("utf-8", "replace")))
            except BadCard as exc:
                if raw.strip():
                    log.warning("badge line ignored: %s", exc)
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
            except (serial.SerialException, OSError) as exc:
                if self._stop.is_set():
                    return
                log.error("badge reader failed: %s", exc)
                if self.on_error is not None:
                    self.on_error(PeripheralError(f"badge reader: {exc}"))
                self._stop.wait(2.0)
                continue
            if not data:
                continue
            for card in self.feed(data):
                try:
                    self.on_card(card)
                except Exception:  # noqa: BLE001 - the reader must keep reading
                    log.exception("handling card %r failed", card)


def make_badge_reader(cfg: BadgeConfig, on_card: Callable[[str], object],
                      on_error: Callable[[Exception], None] | None = None,
                      port: Any | None = None) -> BadgeReader:
    port = port if port is not None else open_port(cfg.port, cfg.baudrate, timeout=0.5)
    return BadgeReader(port, on_card, on_error)
