"""Errors a user sees. The CLI prints ``error: <message>`` and exits non-zero, no traceback."""


class AllabelError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, missing prerequisite)."""

    exit_code = 1
    prefix = "error"  # the CLI prints "<prefix>: <message>"


class InputError(AllabelError):
    """Bad input file. The message carries file, line and reason; nothing was written."""

    exit_code = 2

    def __init__(self, path: str, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class ConfigError(AllabelError):
    exit_code = 3


class DatabaseError(AllabelError):
    exit_code = 4


class LLMError(AllabelError):
    exit_code = 5
