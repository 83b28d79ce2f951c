"""One error type for everything a user can get wrong: a one-line message naming the bad value and what works."""

from __future__ import annotations


class TracerError(ValueError):
    """A user-facing error. ``str(err)`` is a single line fit for a status bar or stderr."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class Cancelled(Exception):
    """Raised inside engine work when the caller's ``should_cancel`` callback says stop."""


def check_cancel(should_cancel) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled()
