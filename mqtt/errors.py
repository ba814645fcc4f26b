"""Errors of the protocol core."""
from common.errors import MotcuaError


class MqttCoreError(MotcuaError):
    """Base for errors raised by mqtt/."""


class BadId(MqttCoreError, ValueError):
    """A site, device or other topic id that is not 1-32 lower-case letters, digits and '-'."""


class BadTopic(MqttCoreError, ValueError):
    """A topic that is not part of the motcua/v1 tree."""


class ProtocolError(MqttCoreError, ValueError):
    """A payload that cannot be accepted; the message says exactly what was wrong.

    ``reason`` is a short machine-readable code (``not_json``, ``bad_version``, ...), kept with
    the raw payload in the collector's dead letters.
    """

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(f"{reason}: {message}")


class OutboxFull(MqttCoreError):
    """The durable outbox reached its bound; the event was refused, nothing old was dropped."""


class OutboxClosed(MqttCoreError):
    """enqueue after close()."""


class RequestTimeout(MqttCoreError, TimeoutError):
    """No answer to a request within its timeout (ticketing or the broker unreachable)."""


class NotConnected(MqttCoreError):
    """The broker is not connected right now."""


class OutboxStorageError(MqttCoreError):
    """The outbox's disk refused a write: ``kind`` is ``disk_full``, ``read_only`` or ``io``; the
    message names the file and SQLite's own error. The event was not stored and used no seq."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


_KINDS = {"SQLITE_FULL": "disk_full", "SQLITE_READONLY": "read_only", "SQLITE_CANTOPEN": "read_only"}


def storage_kind(exc: BaseException) -> str:
    """``disk_full``, ``read_only`` or ``io`` for an sqlite3 error (by its error name)."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    for prefix, kind in _KINDS.items():
        if name.startswith(prefix):
            return kind
    text = str(exc).lower()
    if "disk is full" in text or "no space" in text:
        return "disk_full"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return "read_only"
    return "io"


def storage_error(exc: BaseException, path: object) -> OutboxStorageError:
    kind = storage_kind(exc)
    what = {"disk_full": "the disk is full", "read_only": "the storage is read-only",
            "io": "the storage failed"}[kind]
    return OutboxStorageError(kind, f"outbox {path}: {what} ({getattr(exc, 'sqlite_errorname', '')}: {exc}); "
                                    "the event was not stored")
