"""Contrast-screen settings: sampling sizes and steering strength, and the one-line forms users type to change them.

Sizes are typed as ``key=value`` pairs (``samples=64 random=5``); strength as a multiple of the latent's typical
activation (``4x``, ``-2x``) or an absolute α (``12.5``), the same two ways as the CLI's --multiplier / --alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..core.defaults import (DEFAULT_CONTRAST_TOP, DEFAULT_MAX_TOKENS, DEFAULT_MULTIPLIER, DEFAULT_SAMPLES,
                             DEFAULT_SEED, DEFAULT_STEER_SAMPLES, DEFAULT_TEMPERATURE)
from ..core.errors import TracerError

SCREEN_RANDOM = 3  # the contrast screen steers a small random band by default (the CLI's --random defaults to none)


@dataclass(frozen=True)
class ContrastSettings:
    """What s (sample) and g (steer) use. The app keeps one; tests shrink it. ``rule`` remembers the last rule."""

    samples: int = DEFAULT_SAMPLES
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    seed: int = DEFAULT_SEED
    top_k: int = DEFAULT_CONTRAST_TOP
    steer_samples: int = DEFAULT_STEER_SAMPLES
    random: int = SCREEN_RANDOM
    multiplier: float = DEFAULT_MULTIPLIER  # α = multiplier × the latent's typical activation ...
    alpha: float | None = None  # ... unless an absolute α is set
    rule: str | None = None


# Typed name -> (field, converter, lowest allowed value)
SIZES = {"samples": ("samples", int, 1), "tokens": ("max_tokens", int, 1), "temperature": ("temperature", float, 0),
         "seed": ("seed", int, 0), "top": ("top_k", int, 1), "steer": ("steer_samples", int, 1),
         "random": ("random", int, 0)}


def sizes_text(s: ContrastSettings) -> str:
    return " ".join(f"{name}={getattr(s, f):g}" for name, (f, _, _) in SIZES.items())


def parse_sizes(text: str, s: ContrastSettings) -> ContrastSettings:
    """'samples=64 random=5' -> new settings; anything unknown or out of range is a one-line error."""
    changes = {}
    for part in text.replace(",", " ").split():
        name, eq, value = part.partition("=")
        if not eq or name not in SIZES:
            raise TracerError(f"can't read {part!r}: use name=value with a name among {', '.join(SIZES)}")
        field, kind, lowest = SIZES[name]
        try:
            v = kind(value)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise TracerError(f"{name} must be {what}, got {value!r}") from None
        if not math.isfinite(v) or v < lowest:
            raise TracerError(f"{name} must be a number >= {lowest}, got {value}")
        changes[field] = v
    if not changes:
        raise TracerError(f"nothing to change: type name=value pairs, e.g. {sizes_text(s)}")
    return replace(s, **changes)


def strength_text(s: ContrastSettings) -> str:
    return f"{s.alpha:g}" if s.alpha is not None else f"{s.multiplier:g}x"


def parse_strength(text: str, s: ContrastSettings) -> ContrastSettings:
    """'4x' / '-2.5×' (multiple of typical activation) or '12' (absolute α) -> new settings."""
    t = text.strip().lower().replace("×", "x")
    relative = t.endswith("x")
    try:
        v = float(t[:-1] if relative else t)
    except ValueError:
        raise TracerError(f"can't read strength {text!r}: type a multiple of the typical activation like 4x, "
                          "or an absolute alpha like 12.5") from None
    if not math.isfinite(v) or v == 0:
        raise TracerError(f"strength must be a finite number other than 0, got {text.strip()!r}")
    return replace(s, multiplier=v, alpha=None) if relative else replace(s, alpha=v)

