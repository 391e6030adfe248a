"""The one error type of the operator API."""

from __future__ import annotations


class Problem(Exception):
    """A request the sandbox refuses: the HTTP status to answer and a message for a person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
