"""The one exception type edgekit raises for user-facing problems.

Every EdgekitError names the thing (file, field, board...), the problem and, where there is one, the fix.
The CLI prints it on one line and exits with status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class EdgekitError(Exception):
    """A problem with the user's input or environment, with a message fit to print as is."""

    def __init__(self, message: str, *, path: object | None = None, fix: str | None = None):
        self.path = str(path) if path is not None else None
        self.fix = fix
        text = f"{self.path}: {message}" if self.path else message
        if fix:
            text = f"{text} ({fix})"
        super().__init__(text)
