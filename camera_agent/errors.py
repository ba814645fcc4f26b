"""Errors of the camera agent: each says what was wrong and what would be right."""
from common.errors import MotcuaError


class CameraAgentError(MotcuaError):
    """Base for errors raised by camera_agent/."""


class BadZone(CameraAgentError, ValueError):
    """A zone polygon that cannot be used (too few points, outside 0..1, bad syntax)."""


class SourceUnavailable(CameraAgentError, OSError):
    """A frame source (camera, file, URL) could not be opened or gave no frame."""


class BadLabels(CameraAgentError, ValueError):
    """A ground-truth labels CSV that does not follow start_frame,end_frame,present[,zone]."""
