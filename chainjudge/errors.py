"""One base for every error a user can cause: a one-line message and an exit code.

The command line maps it once, in its entry point (`chainjudge.cli.main`), and the review app once, at
its top: a `ChainjudgeError` never ends in a traceback, and anything else that escapes is reported as
one line too (with the place it came from), never as a Python stack.
"""

from __future__ import annotations


class ChainjudgeError(Exception):
    """A problem a user can act on.  `exit_code` 2: the command could not run as asked."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class OutputError(ChainjudgeError):
    """An output path that cannot be written (a folder, a missing parent that cannot be made, no permission)."""
