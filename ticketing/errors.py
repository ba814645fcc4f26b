"""Errors of the queue authority."""
from common.errors import MotcuaError


class TicketingError(MotcuaError):
    """Base for errors raised by ticketing/."""


class AlreadyRunning(TicketingError):
    """Another ticketing process already serves this site (lock file held, or answering on MQTT)."""


class UnknownDesk(TicketingError, ValueError):
    """A request names a desk that the site config does not list."""


class UnknownService(TicketingError, ValueError):
    """A request or event names a service code that the site config does not list."""
