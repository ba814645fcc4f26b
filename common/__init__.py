"""What several roles need besides the protocol: config loading, the clock, systemd notify,
logging set-up and the `motcua` command. Knows no role."""

from importlib import metadata as _metadata

try:  # the installed release's version (motcua update installs e.g. 0.1.0+20261201.2115)
    __version__ = _metadata.version("motcua")
except _metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.1.0"
