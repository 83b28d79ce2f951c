"""Every default, name list and limit the front ends share, defined once (the engine checks against these)."""

from __future__ import annotations

METRICS = ("logprob", "logit", "logit-diff")
DEFAULT_METRIC = "logprob"
