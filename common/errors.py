"""Errors shared by every role."""


class MotcuaError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(MotcuaError, ValueError):
    """A config file is missing, is not TOML, or holds a value that makes no sense.

    The message names the file, the line and the key, and what would be right.
    """

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))
