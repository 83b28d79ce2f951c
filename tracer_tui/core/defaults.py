"""Every default, name list and limit the front ends share, defined once (the engine checks against these)."""

from __future__ import annotations

METRICS = ("logprob", "logit", "logit-diff", "logit-mean")
DEFAULT_METRIC = "logit-mean"  # most faithful of the foil-free metrics on the demo: docs/attribution.md, "Metrics"

# Where a node's children come from (docs/attribution.md, "Levels"): "nearest" is the nearest residual-stream
# SAE site upstream plus the non-residual sites between it and the node; "all" pools every upstream site.
UPSTREAM_MODES = ("nearest", "all")
DEFAULT_UPSTREAM = "nearest"
VERIFY_CHUNK = 4  # real ablations per forward pass in verify; a cancel is honoured between chunks
