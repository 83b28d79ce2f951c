"""How the TUI words an error for the status line: one line, remedies named as keys, never as CLI flags."""

from __future__ import annotations


def describe(err: BaseException) -> str:
    from ..errors_text import describe as describe_any

    return describe_any(err)[0]
