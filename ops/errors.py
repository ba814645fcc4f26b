"""Errors of the provisioning and operations package."""
from common.errors import MotcuaError


class OpsError(MotcuaError):
    """Base of provisioning errors."""


class UnknownRole(OpsError, ValueError):
    """A role name or config file name that no role owns."""


class NoConfigModel(OpsError, LookupError):
    """A role whose config model cannot be found (a bug: every role validates its config)."""


class ProvisionError(OpsError, ValueError):
    """Credentials cannot be created as asked (bad id, existing device, wrong site)."""


class ReleaseError(OpsError):
    """A release that cannot be built, signed, fetched, verified or installed (the message says why)."""
