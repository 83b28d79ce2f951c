"""Contrast-screen settings: sampling sizes and steering strength, and the one-line forms users type to change them.

Sizes are typed as ``key=value`` pairs (``samples=64 random=5``); strength as a multiple of the latent's typical
activation (``4x``, ``-2x``) or an absolute α (``12.5``), the same two ways as the CLI's --multiplier / --alpha.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.defaults import (DEFAULT_CONTRAST_TOP, DEFAULT_MAX_TOKENS, DEFAULT_MULTIPLIER, DEFAULT_SAMPLES,
                             DEFAULT_SEED, DEFAULT_STEER_SAMPLES, DEFAULT_TEMPERATURE, MAX_SAMPLES, MAX_TOP_K,
                             check_alpha, check_int_range, check_seed, check_temperature)
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


def _count(name: str, low: int, high: int, why: str = ""):
    return lambda v: check_int_range(name, v, low, high, why)


# Typed name -> (field, check): the same checks and bounds as the CLI's flags (core.defaults).
SIZES = {"samples": ("samples", _count("samples", 1, MAX_SAMPLES, "more would not fit in memory")),
         "tokens": ("max_tokens", _count("tokens", 1, None)),  # the model's context is checked when sampling
         "temperature": ("temperature", check_temperature),
         "seed": ("seed", check_seed),
         "top": ("top_k", _count("top", 1, MAX_TOP_K)),
         "steer": ("steer_samples", _count("steer", 1, MAX_SAMPLES, "more would not fit in memory")),
         "random": ("random", _count("random", 0, MAX_TOP_K))}


def sizes_text(s: ContrastSettings) -> str:
    return " ".join(f"{name}={getattr(s, f):g}" for name, (f, _) in SIZES.items())


def parse_sizes(text: str, s: ContrastSettings) -> ContrastSettings:
    """'samples=64 random=5' -> new settings; anything unknown or out of range is a one-line error."""
    changes = {}
    for part in text.replace(",", " ").split():
        name, eq, value = part.partition("=")
        if not eq or name not in SIZES:
            raise TracerError(f"can't read {part!r}: use name=value with a name among {', '.join(SIZES)}")
        field, check = SIZES[name]
        try:
            number = float(value)
        except ValueError:
            raise TracerError(f"{name} must be a number, got {value!r}") from None
        changes[field] = check(number)
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
    v = check_alpha(v, "strength", nonzero=True)
    return replace(s, multiplier=v, alpha=None) if relative else replace(s, alpha=v)

