"""Errors of the rating terminal: each says what was wrong and what would be right."""
from common.errors import MotcuaError


class RatingTerminalError(MotcuaError):
    """Base for errors raised by rating_terminal/."""


class BadPins(RatingTerminalError, ValueError):
    """The pin map cannot be built (a pin used twice, a device the pin factory refuses)."""


class PeripheralError(RatingTerminalError, OSError):
    """A serial peripheral (counter display, badge reader) failed to open, read or write."""


class BadCard(RatingTerminalError, ValueError):
    """A badge line that is not a usable card id (empty, too long, control characters)."""
