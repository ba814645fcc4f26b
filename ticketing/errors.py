"""Errors of the queue authority."""
from common.errors import MotcuaError


class TicketingError(MotcuaError):
    """Base for errors raised by ticketing/."""


class AlreadyRunning(TicketingError):
    """Another ticketing process already serves this site (lock file held, or answering on MQTT)."""
