"""What several roles need besides the protocol: config loading, the clock, systemd notify,
logging set-up and the `motcua` command. Knows no role."""

__version__ = "0.1.0"
