"""The one exception type that the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class AlignrunError(Exception):
    """A user-facing error: bad input, a broken plugin, missing data.

    The CLI prints ``alignrun: error: <message>`` and exits with ``exit_code``; no traceback.
    Raise it wherever the user, not the code, has to change something.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
