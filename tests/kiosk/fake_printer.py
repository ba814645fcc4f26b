"""A fake thermal printer on the far end of a socat pty pair: answers DLE EOT n status queries
from a settable state and keeps every other byte it receives (the ticket)."""
from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import time

import serial

OK = {1: 0x12, 2: 0x12, 4: 0x12}
PAPER_NEAR_END = {1: 0x12, 2: 0x12, 4: 0x1E}
PAPER_OUT = {1: 0x1A, 2: 0x32, 4: 0x72}
COVER_OPEN = {1: 0x1A, 2: 0x16, 4: 0x12}


class PtyPair:
    """``socat -d -d pty,raw,echo=0 pty,raw,echo=0``; the two /dev/pts paths from its stderr."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert self.proc.stderr is not None
        paths: list[str] = []
        buf = b""
        end = time.monotonic() + 10
        fd = self.proc.stderr.fileno()
        while len(paths) < 2 or b"starting data transfer" not in buf:
            if time.monotonic() > end:
                self.close()
                raise RuntimeError(f"socat gave no pty pair: {buf!r}")
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                buf += os.read(fd, 4096)
                paths = re.findall(rb"PTY is (/dev/pts/\d+)", buf)
        self.kiosk_end, self.printer_end = (p.decode() for p in paths[:2])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class FakePrinter:
    def __init__(self, path: str, status: dict[int, int] | None = None):
        self.port = serial.Serial(path, 19200, timeout=0.05)
        self.status = dict(status or OK)
        self.received = bytearray()
        self.queries: list[int] = []
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            data = self.port.read(4096)
            if data:
                self._buf += data
                self._parse()

    def _parse(self) -> None:
        b = self._buf
        while b:
            if b[:3] == b"\x1dv0":
                if len(b) < 8:
                    return
                size = (b[4] + 256 * b[5]) * (b[6] + 256 * b[7])
                if len(b) < 8 + size:
                    return
                self.received += b[:8 + size]
                del b[:8 + size]
            elif b[:2] == b"\x10\x04":
                if len(b) < 3:
                    return
                n = b[2]
                self.queries.append(n)
                self.port.write(bytes((self.status.get(n, 0x12),)))
                self.port.flush()
                del b[:3]
            elif b[:1] in (b"\x1d", b"\x10") and len(b) < 3:
                return
            else:
                self.received += b[:1]
                del b[:1]

    def wait_cut(self, start: int = 0, timeout: float = 5.0) -> bytes:
        """The bytes received from ``start`` up to and including the next cut (GS V 0)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = bytes(self.received[start:])
            i = got.find(b"\x1dV\x00")
            if i >= 0:
                return got[:i + 3]
            time.sleep(0.02)
        raise AssertionError(f"no cut received within {timeout} s ({len(self.received) - start} bytes)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.port.close()
