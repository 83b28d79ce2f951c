"""The JSON contract of ``tracer-tui trace --json`` (documented in the README; scripts rely on it)."""

from __future__ import annotations

from ..core.nodes import TARGET


def walk(trace, parent: str = TARGET, depth: int | None = None):
    """Explored nodes depth-first: each node is followed by its own children, if it was expanded."""
    if depth is not None and depth <= 0:
        return
    for node in trace.children.get(parent, []):
        yield node
        yield from walk(trace, str(node.id), None if depth is None else depth - 1)


def expand_to_depth(trace, depth: int, top_k: int, min_attr: float = 0.0) -> None:
    """Expand every latent of each level, level by level: one batched backward pass per level."""
    level = trace.nodes
    for _ in range(depth - 1):
        latents = list(dict.fromkeys(str(n.id) for n in level if not n.id.is_error))
        if not latents:
            return
        children = trace.expand(latents, top_k=top_k, min_attr=min_attr)
        level = [c for nodes in children.values() for c in nodes]


def trace_to_json(trace, depth: int | None = None, ablation=None, verify=None) -> dict:
    out = {
        "prompt": trace.prompt,
        "tokens": trace.tokens,
        "target": trace.target.to_json(),
        "top_predictions": [p.to_json() for p in trace.top_predictions],
        "nodes": [n.to_json() for n in walk(trace, depth=depth)],
    }
    if ablation is not None:
        out["ablation"] = ablation.to_json()
    if verify is not None:
        out["verify"] = verify.to_json()
    return out
