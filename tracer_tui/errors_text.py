"""Turn any exception into one line for a user, with what to do next. Shared by the CLI and the TUI."""

from __future__ import annotations


def describe(err: BaseException) -> tuple[str, int]:
    """(message, exit code): 2 for the user's input, 1 for faults."""
    from .core.errors import TracerError

    if isinstance(err, TracerError):
        return str(err), 2
    name = type(err).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(err).lower():
        return ("out of memory on the device: try a shorter prompt, fewer SAEs (--sae), a smaller --top, "
                "or --device cpu"), 1
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"unexpected {name}: {first} (set TRACER_TUI_DEBUG=1 for a traceback)", 1
