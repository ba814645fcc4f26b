"""Errors of the portal role."""
from common.errors import MotcuaError


class PortalError(MotcuaError):
    """The portal cannot start or serve (bad secret file, port in use)."""
