"""Errors a user sees. The CLI prints ``error: <message>`` and exits non-zero, no traceback.

Every message is masked (``allabel.core.secrets.mask``) when the error is made, so a URL password or
an API key never reaches the terminal, a log or a stored ``error`` column through an error.
"""


def _mask(msg: object) -> object:
    if isinstance(msg, str):
        from allabel.core.secrets import mask

        return mask(msg)
    return msg


class AllabelError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, missing prerequisite)."""

    exit_code = 1
    prefix = "error"  # the CLI prints "<prefix>: <message>"

    def __init__(self, *args: object):
        super().__init__(*(_mask(a) for a in args))


class InputError(AllabelError):
    """Bad input file. The message carries file, line and reason; nothing was written."""

    exit_code = 2

    def __init__(self, path: str, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class ConfigError(AllabelError):
    """Bad configuration or command-line argument (named in the message)."""

    exit_code = 3


class DatabaseError(AllabelError):
    exit_code = 4


class DatabaseUnavailable(DatabaseError):
    """The server cannot be reached (down, restarting, starting up): worth retrying."""


class LLMError(AllabelError):
    exit_code = 5


class Interrupted(AllabelError):
    """SIGINT/SIGTERM: the batch in hand was finished, the run is marked ``interrupted``."""

    def __init__(self, signum: int, message: str):
        self.exit_code = 128 + signum
        super().__init__(message)
