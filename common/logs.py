"""Logging set-up for every role: one line per record, journald-friendly."""
from __future__ import annotations

import logging
import os
import sys


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes, not the one that was current at
    set-up: a role's ``main()`` run inside a test must not keep writing to that test's capture
    after pytest has closed it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - StreamHandler.__init__ assigns it
        pass


def setup_logging(level: str | None = None) -> None:
    lvl = (level or os.environ.get("MOTCUA_LOG", "INFO")).upper()
    if not isinstance(logging.getLevelName(lvl), int):
        raise SystemExit(f"Mức ghi log không hợp lệ / unknown log level {lvl!r} (--log-level or $MOTCUA_LOG): "
                         "dùng / use DEBUG, INFO, WARNING or ERROR")
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("INVOCATION_ID"):  # not under systemd: add a timestamp
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=lvl, format=fmt, handlers=[_StderrHandler()], force=True)
