"""Every default, name list and check the engine and the front ends share, defined once.

The engine checks its arguments with these; the CLI and the TUI take their defaults and choices from here and
call the same checks early (before a model loads). Torch-free.
"""

from __future__ import annotations

import math

from .errors import Hint, TracerError

# ---- trace -------------------------------------------------------------------------------------------------------
METRICS = ("logprob", "logit", "logit-diff", "logit-mean")
DEFAULT_METRIC = "logit-mean"  # most faithful of the foil-free metrics on the demo: docs/attribution.md, "Metrics"

# Where a node's children come from (docs/attribution.md, "Levels"): "nearest" is the nearest residual-stream
# SAE site upstream plus the non-residual sites between it and the node; "all" pools every upstream site.
UPSTREAM_MODES = ("nearest", "all")
DEFAULT_UPSTREAM = "nearest"
DEFAULT_TOP_K = 10  # rows per level (and per "… N more" page)
VERIFY_CHUNK = 4  # real ablations per forward pass in verify; a cancel is honoured between chunks

# ---- sampling (contrast and steering) ----------------------------------------------------------------------------
DEFAULT_MAX_TOKENS = 40
DEFAULT_TEMPERATURE = 1.0
DEFAULT_SEED = 0
DEFAULT_STOP = ("\nUser:",)  # the demo's chat turns; sampling stops there

# ---- contrast (Δ-attribution) ------------------------------------------------------------------------------------
CONTRAST_MODES = ("zero", "mean")
DEFAULT_CONTRAST_MODE = "zero"
POSITIONS = ("all", "prompt", "completion")  # which positions attributions and activations are summed over
DEFAULT_POSITIONS = "all"
DEFAULT_SAMPLES = 256  # completions sampled when none are given (engine/contrast.py's docstring: sampling noise)
DEFAULT_CONTRAST_TOP = 20  # latents listed

# ---- steering ----------------------------------------------------------------------------------------------------
DEFAULT_MULTIPLIER = 4.0  # default alpha = this many times the latent's typical activation
DEFAULT_STEER_SAMPLES = 64  # completions per condition
DEFAULT_RANDOM = 0  # random latents steered as a control band


def check_samples(n) -> int:
    if n is None or int(n) != n or int(n) < 1:
        raise TracerError(f"number of samples must be at least 1, got {n}")
    return int(n)


def check_sampling(n, max_tokens, temperature) -> None:
    check_samples(n)
    if max_tokens is None or int(max_tokens) < 1:
        raise TracerError(f"max tokens must be at least 1, got {max_tokens}")
    t = float(temperature)
    if not math.isfinite(t) or t < 0:
        raise TracerError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature}")


def check_mode(mode) -> None:
    if mode not in CONTRAST_MODES:
        raise TracerError(f"unknown contrast mode {mode!r}: use {' or '.join(CONTRAST_MODES)}")


def check_positions(positions) -> None:
    if positions not in POSITIONS:
        raise TracerError(f"unknown positions {positions!r}: use {', '.join(POSITIONS)}")


def check_alpha(alpha) -> float | None:
    """A steering strength (an absolute alpha or a multiplier): None, or a finite number."""
    if alpha is None:
        return None
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise TracerError(f"alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(a):
        raise TracerError(f"alpha must be a finite number, got {alpha}")
    return a


def check_random(random) -> int:
    if random is None or int(random) < 0:
        raise TracerError(f"number of random latents must be >= 0, got {random}")
    return int(random)


def check_steering(samples, max_tokens, temperature, random, alpha, multiplier, has_rule: bool) -> None:
    """Everything ``steer`` checks before it samples (the CLI calls it before loading a model)."""
    check_alpha(alpha)
    check_alpha(multiplier)
    check_sampling(samples, max_tokens, temperature)
    check_random(random)
    if not has_rule:
        raise TracerError("steering needs a rule to grade completions", Hint(("rule",)))


# Latents active on more than this share of tokens are "dense": not a concept, whatever their top snippets say.
DENSE_THRESHOLD = 0.10

# ---- TUI: verify each level as it appears ------------------------------------------------------------------------
# Rows of each new level (the root after a trace, a latent's children after an expansion) that the TUI ablates for
# real, one at a time, to show the actual Δ beside the estimate; 0 turns it off (docs/attribution.md, "Verify").
AUTO_VERIFY_K = 10
VERIFY_MORE_K = 20  # v: rows of the highlighted level verified (at least; loaded rows only)
