"""Every default, name list and limit the front ends share, defined once (the engine checks against these)."""

from __future__ import annotations

METRICS = ("logprob", "logit", "logit-diff")
DEFAULT_METRIC = "logprob"

# Latents active on more than this share of tokens are "dense": not a concept, whatever their top snippets say.
DENSE_THRESHOLD = 0.10
