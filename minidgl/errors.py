"""minidgl's own errors: a problem with what was asked of it (an option, an input, a file), the fix in the message.

Each is also the built-in error it stands for, so `except ValueError` (or `KeyError`, ...) still catches it; the
command line reports these in one line and lets any other exception, a bug, show its traceback.
"""


class MinidglError(Exception):
    """Base class of the errors minidgl raises on purpose."""


class InvalidValue(MinidglError, ValueError):
    """An option or input with a value minidgl cannot use."""


class InvalidType(MinidglError, TypeError):
    """An option or input of the wrong kind."""


class UnknownKey(MinidglError, KeyError):
    """A modality, option or name that does not exist where it was asked for."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class NotFinite(MinidglError, FloatingPointError):
    """A NaN or infinite value where a finite one is needed: in the data, or a loss during training."""


class MissingFile(MinidglError, FileNotFoundError):
    """A file minidgl was asked to read does not exist."""
