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
