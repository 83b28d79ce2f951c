"""One error type for everything a user can get wrong: a one-line message naming the bad value and what works.

The message never names a CLI flag or a key: what the user can change to fix it travels as a machine-readable
:class:`Hint` (setting names from ``SETTINGS``), and each front end words it its own way (the CLI in
``cli/render.py`` as flags, the TUI in ``tui/wording.py`` as keys).
"""

from __future__ import annotations

from dataclasses import dataclass

# What a hint can point at. Each front end words every one of these (a test checks both cover the list).
SETTINGS = (
    "foil",  # the token logit-diff subtracts
    "rule",  # the undesired rule: a regex or keywords
    "labels",  # labelling completions by hand
    "samples",  # how many completions to sample
    "device",  # where the model runs
    "model",  # which model to load
    "saes",  # which SAEs to load
    "means_text",  # texts to compute mean activations from (contrast mean mode)
    "smaller_work",  # a shorter prompt, fewer SAEs or fewer nodes: what out-of-memory advice asks for
)


@dataclass(frozen=True)
class Hint:
    """What the user can change to fix an error: setting names (each in ``SETTINGS``), in the order to try them,
    and optionally an example value (e.g. ``"cpu"`` for the device)."""

    settings: tuple[str, ...]
    example: str | None = None

    def __post_init__(self):
        unknown = [s for s in self.settings if s not in SETTINGS]
        if unknown or not self.settings:
            raise ValueError(f"hint settings must be among {SETTINGS}, got {self.settings!r}")


class TracerError(ValueError):
    """A user-facing error. ``str(err)`` is a single line fit for a status bar or stderr; ``hint`` (or None) says
    which settings would fix it, for the front end to word."""

    def __init__(self, message: str, hint: Hint | None = None):
        super().__init__(" ".join(str(message).split()))
        self.hint = hint


class Cancelled(Exception):
    """Raised inside engine work when the caller's ``should_cancel`` callback says stop."""


def check_cancel(should_cancel) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled()


def out_of_memory(err: BaseException) -> bool:
    """Whether an exception is the device running out of memory (torch's OutOfMemoryError or its message)."""
    return type(err).__name__ == "OutOfMemoryError" or "out of memory" in str(err).lower()


OUT_OF_MEMORY = "out of memory on the device"
OUT_OF_MEMORY_HINT = Hint(("smaller_work", "device"), example="cpu")


def worded(message: str, hint: Hint | None, phrases: dict) -> str:
    """``message`` with ``hint`` worded by a front end: ``phrases`` maps every setting in SETTINGS to a remedy,
    a string or a function of the hint's example. Remedies join as "a or b" / "a, b, or c", after ": " (or "; "
    when the message already has a colon)."""
    if hint is None:
        return message
    parts = [p(hint.example) if callable(p) else p for p in (phrases[s] for s in hint.settings)]
    last = ", or " if len(parts) > 2 or any("," in p for p in parts) else " or "
    remedy = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])}{last}{parts[-1]}"
    return f"{message}{'; ' if ':' in message else ': '}{remedy}"


def unexpected(err: BaseException) -> str:
    """An exception nobody anticipated, in one line: its type and the first line of its message."""
    text = str(err).strip()
    return f"unexpected {type(err).__name__}: {text.splitlines()[0] if text else ''}"
