"""Errors of the collector."""
from common.errors import MotcuaError


class CollectorError(MotcuaError):
    """Base of every error the collector raises on purpose."""


class SchemaTooNew(CollectorError):
    """The database was written by a newer collector than this one."""


class CentralNeedsClientId(CollectorError, ValueError):
    """A central collector (``[province] central = true``) started without its own stable client id."""


class BadUserName(CollectorError, ValueError):
    """A user or token name that is empty or holds characters other than letters, digits, '.', '_', '-'."""


class BadPassword(CollectorError, ValueError):
    """A password that is too short (at least 8 characters) or empty."""


class UnknownUser(CollectorError, LookupError):
    """No user of that name."""


class BadRole(CollectorError, ValueError):
    """A role that is not manager, officer, technician or viewer."""


class UnknownToken(CollectorError, LookupError):
    """No API token with that value or id."""


class BadHttpAddress(CollectorError, ValueError):
    """An --http value that is not HOST:PORT."""


class StorageUnavailable(CollectorError):
    """The database (or the collector's own outbox) cannot be written: read-only, full, missing."""


class BadStore(CollectorError, ValueError):
    """A store setting that is neither a SQLite path nor a ``postgresql://`` URL (the message says why)."""
