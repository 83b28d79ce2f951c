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
# How the tree orders a level (f cycles): as ranked by |estimated Δ|, by |actual Δ| of real ablations, by position.
SORTS = ("estimate", "actual", "position")
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


def check_alpha(alpha, name: str = "alpha", nonzero: bool = False) -> float | None:
    """A steering strength (an absolute alpha or a multiplier): None, or a finite number (not 0 with ``nonzero``:
    the CLI refuses a strength that would steer nothing; the engine accepts 0 as the unsteered control)."""
    return None if alpha is None else check_finite_range(name, alpha, nonzero=nonzero)


def check_random(random) -> int:
    if random is None or int(random) < 0:
        raise TracerError(f"number of random latents must be >= 0, got {random}")
    return int(random)


def check_steering(samples, max_tokens, temperature, random, alpha, multiplier, has_rule: bool) -> None:
    """Everything ``steer`` checks before it samples (the CLI calls it before loading a model)."""
    check_alpha(alpha)
    check_alpha(multiplier, "multiplier")
    check_sampling(samples, max_tokens, temperature)
    check_random(random)
    if not has_rule:
        raise TracerError("steering needs a rule to grade completions", Hint(("rule",)))


# Latents active on more than this share of tokens are "dense": not a concept, whatever their top snippets say.
DENSE_THRESHOLD = 0.10


def is_dense(density: float | None, threshold: float | None = None) -> bool | None:
    """Fires on more than ``threshold`` of tokens (default DENSE_THRESHOLD); None when the density is unknown."""
    return None if density is None else density > (DENSE_THRESHOLD if threshold is None else threshold)


# ---- bounds on numbers a user types (CLI flags, TUI dialogs) ----------------------------------------------------
# Each bound is what the engine can do without an allocator error or an overflow; numbers past it are refused with
# one line before any work starts. Bounds that depend on the model (context length) are checked once it is loaded.
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a 64-bit seed
MAX_SAMPLES = 100_000  # completions per condition: beyond this the batch's logits alone outgrow any machine
MAX_TOP_K = 100_000  # nodes per level / latents listed
MAX_DEPTH_LEVELS = 64  # levels to expand (a model has far fewer SAE levels)
MAX_VERIFY = 10_000  # real ablations per level
MAX_REPEAT = 1_000  # bench repeats
MAX_TEMPERATURE = 1e4
MIN_TEMPERATURE = 1e-4  # 0 is greedy; between 0 and this, logits / T overflow to inf
MAX_SCALE = 1e6  # |ablation scale|: beyond it the activations overflow float32


def check_int_range(name: str, value, low: int, high: int | None = None, why: str = "") -> int:
    """An integer in [low, high]; the message names the setting, the bound and (``why``) where it comes from."""
    if (value is None or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value))
            or int(value) != value):
        raise TracerError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise TracerError(f"{name} must be {bound}{f' ({why})' if why else ''}, got {value}")
    return value


def check_finite_range(name: str, value, low: float | None = None, high: float | None = None,
                       nonzero: bool = False) -> float:
    """A finite float within [low, high] (either may be None), optionally not 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TracerError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise TracerError(f"{name} must be a finite number, got {value}")
    if nonzero and x == 0:
        raise TracerError(f"{name} must not be 0: it would change nothing")
    if (low is not None and x < low) or (high is not None and x > high):
        lo = "" if low is None else f">= {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        raise TracerError(f"{name} must be {' and '.join(b for b in (lo, hi) if b)}, got {value}")
    return x


def check_seed(seed) -> int:
    return check_int_range("seed", seed, 0, MAX_SEED, "a 64-bit generator seed")


def check_temperature(temperature) -> float:
    t = check_finite_range("temperature", temperature, 0, MAX_TEMPERATURE)
    if 0 < t < MIN_TEMPERATURE:
        raise TracerError(f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE:g}, got {temperature}: "
                          "smaller values overflow the logits")
    return t


def check_sampling_bounds(samples, max_tokens, temperature, seed, n_ctx: int | None = None) -> None:
    """Upper bounds on top of :func:`check_sampling` (which checks the lower ones); ``n_ctx`` once a model is
    loaded."""
    check_sampling(samples, max_tokens, temperature)
    check_int_range("number of samples", samples, 1, MAX_SAMPLES, "more would not fit in memory")
    check_int_range("max tokens", max_tokens, 1, n_ctx, "the model's context" if n_ctx else "")
    check_temperature(temperature)
    check_seed(seed)


def check_device_name(name) -> None:
    """Torch-free early check of a device name: cpu takes no index (``cpu:7`` is refused here, not blamed on an
    SAE later)."""
    if name is None:
        return
    text = str(name).strip().lower()
    kind, _, index = text.partition(":")
    if kind == "cpu" and index:
        raise TracerError(f"device {name!r}: the CPU has no device index", Hint(("device",), "cpu"))
    if kind in ("cuda", "mps") and index and not index.isdigit():
        raise TracerError(f"device {name!r}: the index must be a number, e.g. cuda:0")
    if kind == "mps" and index not in ("", "0"):
        raise TracerError(f"device {name!r}: there is only one MPS device; use mps")


def text_is_utf8(value: str) -> bool:
    """False for argv text holding surrogate escapes (bytes that were not valid UTF-8)."""
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# ---- TUI: verify each level as it appears ------------------------------------------------------------------------
# Rows of each new level (the root after a trace, a latent's children after an expansion) that the TUI ablates for
# real, one at a time, to show the actual Δ beside the estimate; 0 turns it off (docs/attribution.md, "Verify").
AUTO_VERIFY_K = 10
VERIFY_MORE_K = 20  # v: rows of the highlighted level verified (at least; loaded rows only)
RESUME_VERIFY_LEVELS = 10  # levels a resume verifies on arrival; the rest when the user opens them (bounded work)

# ---- expansion: bounded memory -----------------------------------------------------------------------------------
# Working memory of one batched expansion (gradients at the level's sites, the backward pass through the layers
# between, and each node's attribution row). Many nodes (a resumed session, trace --depth) run in chunks that fit
# it, so memory stays flat whatever their number; a cancel is honoured between chunks.
EXPAND_MEMORY_BYTES = 256 * 2**20
