"""How the TUI words an error for the status line: one line, remedies named as keys, never as CLI flags."""

from __future__ import annotations

import logging

from ..core import paths
from ..core.errors import OUT_OF_MEMORY, OUT_OF_MEMORY_HINT, TracerError, out_of_memory, unexpected, worded
from .bindings import KEYS, display_keys


def key(binding_id: str) -> str:
    """The key(s) of a binding in the key table, as the help screen shows them (e.g. 'x', 'Esc / q')."""
    return next(display_keys(k.keys) for k in KEYS if k.id == binding_id)


# How the TUI words each setting a hint can name (core.errors.SETTINGS): as the keys that change it. Settings
# the TUI cannot change while running (device, model, SAEs) need a restart.
PHRASES = {
    "foil": f"press {key('foil')} to set one",
    "rule": f"change the rule ({key('contrast-rule')})",
    "labels": f"label by hand ({key('contrast-undesired')}/{key('contrast-desired')})",
    "samples": f"sample more ({key('contrast-sizes')})",
    "device": lambda example: "restart tracer-tui on another device" + (f" (e.g. {example})" if example else ""),
    "model": "restart tracer-tui with another model",
    "saes": "restart tracer-tui with SAEs to load",
    "means_text": f"use zero mode ({key('contrast-mode')})",
    "smaller_work": "shorten the prompt",
}


def describe(err: BaseException) -> str:
    """One line for the status bar: the error's message with its hint worded as keys."""
    if isinstance(err, TracerError):
        return worded(str(err), err.hint, PHRASES)
    if out_of_memory(err):
        return worded(OUT_OF_MEMORY, OUT_OF_MEMORY_HINT, PHRASES)
    # A bug, not a user mistake: keep the traceback in the log file and say where it is.
    logging.getLogger("tracer_tui.tui").error("unexpected error", exc_info=err)
    return f"{unexpected(err)} (traceback in {paths.log_file()})"
