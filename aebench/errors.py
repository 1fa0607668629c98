"""Errors a user sees as one line. Anything else is a bug and shows a traceback with --debug."""

from __future__ import annotations


class AebenchError(Exception):
    """A problem with the user's input, described in one line that names the input and the fix."""


class DataError(AebenchError):
    """A data file is missing, corrupt or does not match what it claims to be."""


class PluginError(AebenchError):
    """A plugin could not be loaded or registered something invalid."""


class ProtocolError(AebenchError, ValueError):
    """A protocol field holds a value no run could use; the message names the protocol and
    the field. Raised when the protocol is made, so a data set with a mistyped protocol fails
    to load (reported with its plugin's name) instead of failing the first run that uses it."""


class DuplicateError(PluginError):
    """Two plugins registered the same name; the message names both distributions."""


class AebenchWarning(UserWarning):
    """Something skipped or repaired that the user should hear of; the CLI shows it in one line."""


class Diverged(Exception):  # noqa: N818 - it is an outcome, not a programming error
    """Training produced a non-finite loss; the run is recorded as ``diverged``."""

    def __init__(self, step: int, value: float | None = None):
        self.step = step
        self.value = value
        super().__init__(f"non-finite loss at step {step}")


def one_line(exc: BaseException) -> str:
    """``exc`` as one line for a record or a message: its type and the first line of its text."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
