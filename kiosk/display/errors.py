"""Errors of the hall display."""
from __future__ import annotations

from common.errors import MotcuaError


class DisplayError(MotcuaError):
    """Base of the hall display's own errors."""


class VoiceError(DisplayError, RuntimeError):
    """A voice clip could not be rendered (espeak-ng failed, or its output was not a WAV file)."""
